"""The Flex Template specs as gcloud builds them: ``gcloud dataflow flex-template build --print-only``
is run for real (it needs no credentials), for both templates, and deploy/merge_spec.py finishes
its actual output, exactly as the build-specs step of cloudbuild.yaml does."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gcloud import needs_gcloud, run_gcloud, unknown_fields
from transactions_pipeline.parameters import BACKFILL, STREAM, of_template
from transactions_tools import template_metadata

pytestmark = [pytest.mark.gcloud, needs_gcloud]
ROOT = Path(__file__).resolve().parents[3]
IMAGE = "us-central1-docker.pkg.dev/my-project/dataflow/transacoes-template:v1.0.0"
sys.path.insert(0, str(ROOT / "deploy"))
import merge_spec  # noqa: E402  (deploy/ is a folder of scripts, not a package)


def built_spec(template: str, tmp_path: Path, *format_flag: str) -> str:
    """gcloud's own output for one template, untouched."""
    metadata = ROOT / template_metadata.FILES[template]
    done = run_gcloud(
        [
            "dataflow",
            "flex-template",
            "build",
            f"gs://my-bucket/templates/{template}.json",
            "--sdk-language=PYTHON",
            f"--image={IMAGE}",
            f"--metadata-file={metadata}",
            "--print-only",
            *format_flag,
        ],
        tmp_path / "gcloud",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def merged(template: str, tmp_path: Path) -> dict:
    raw = tmp_path / f"{template}-raw.txt"
    raw.write_text(built_spec(template, tmp_path))
    out = tmp_path / f"{template}.json"
    metadata = ROOT / template_metadata.FILES[template]
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "merge_spec.py"), str(raw), str(metadata), IMAGE, str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def test_gcloud_prints_a_yaml_block_and_drops_the_streaming_fields(tmp_path):
    output = built_spec(STREAM, tmp_path)
    assert output.startswith("|-\n")
    spec = merge_spec.read_gcloud_spec(output)
    assert spec["image"] == IMAGE and spec["sdkInfo"] == {"language": "PYTHON"}
    assert "streaming" not in spec["metadata"] and "defaultStreamingMode" not in spec["metadata"]


def test_every_form_of_gcloud_output_reads_the_same(tmp_path):
    plain = merge_spec.read_gcloud_spec(built_spec(STREAM, tmp_path))
    assert merge_spec.read_gcloud_spec(built_spec(STREAM, tmp_path, "--format=json")) == plain
    assert merge_spec.read_gcloud_spec(built_spec(STREAM, tmp_path, "--format=value(.)")) == plain


def test_the_stream_spec_is_streaming_on_streaming_engine_in_one_mode_on_our_image(tmp_path):
    spec = merged(STREAM, tmp_path)
    metadata = template_metadata.metadata(STREAM)
    assert spec["image"] == IMAGE
    # One streaming-mode switch (https://cloud.google.com/dataflow/docs/guides/streaming-modes):
    # the metadata's default; the spec's environment sets no mode that a launch could contradict.
    assert spec["defaultEnvironment"] == {
        "sdkContainerImage": IMAGE,
        "maxWorkers": merge_spec.MAX_WORKERS,
        "enableStreamingEngine": True,
    }
    assert spec["metadata"]["defaultStreamingMode"] == "EXACTLY_ONCE"
    for field in ("streaming", "supportsAtLeastOnce", "supportsExactlyOnce", "defaultStreamingMode"):
        assert spec["metadata"][field] == metadata[field]
    by_name = {p["name"]: p for p in spec["metadata"]["parameters"]}
    assert by_name["sdk_container_image"]["defaultValue"] == IMAGE
    expected = {p["name"]: p for p in metadata["parameters"]}
    expected["sdk_container_image"] = {**expected["sdk_container_image"], "defaultValue": IMAGE}
    assert by_name == expected, "gcloud carried every parameter field through"


def test_the_backfill_spec_is_a_batch_job_on_our_image(tmp_path):
    spec = merged(BACKFILL, tmp_path)
    assert spec["metadata"]["streaming"] is False
    assert spec["defaultEnvironment"] == {"sdkContainerImage": IMAGE, "maxWorkers": merge_spec.MAX_WORKERS}
    assert [p["name"] for p in spec["metadata"]["parameters"]] == [p.name for p in of_template(BACKFILL)]


def test_a_spec_built_for_another_image_is_refused(tmp_path):
    spec = merge_spec.read_gcloud_spec(built_spec(BACKFILL, tmp_path))
    with pytest.raises(ValueError, match="is not"):
        merge_spec.merge(spec, template_metadata.metadata(BACKFILL), IMAGE.replace("v1.0.0", "v2"))


@pytest.mark.parametrize("template", [STREAM, BACKFILL])
def test_both_merged_specs_decode_with_no_unknown_field_in_gclouds_own_messages(template, tmp_path):
    """Dataflow v1b3's ``ContainerSpec`` (gcloud's generated classes) knows every field we set,
    ``defaultEnvironment.maxWorkers`` and ``streamingMode`` among them."""
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(merged(template, tmp_path)))
    assert unknown_fields("flex_template_spec", path) == []
