"""The template's entry point: its help, and the checks that end a launch before any job starts.

Only what is decided before a Google service is reached is run here: the parameters' checks
(``options.resolve_config``, tested in ``test_options.py``) and the worker image's. A launch that
goes on to preflight and the job is ``tests/integration/test_launch_contract.py``.
"""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, WorkerOptions

from tests.output import one_clean_line
from transactions_pipeline import launch, parameters
from transactions_pipeline.options import ConfigError

IMAGE = "europe-docker.pkg.dev/my-project/templates/transacoes:v1.0.0"
STREAM = [
    "--runner=DataflowRunner",
    "--project=my-project-x",
    "--region=europe-west1",
    "--input_subscription=projects/my-project-x/subscriptions/transacoes-pipeline",
    "--dead_letter_topic=projects/my-project-x/topics/transacoes-dead-letter",
    "--bigtable_instance=inst-12",
    "--bigtable_table=transacoes",
]


def test_help_lists_the_templates_own_parameters(capsys):
    assert launch.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: template/main.py")
    for name in ("input_subscription", "input_file", "dead_letter_topic", "bigtable_table", "rollups_table"):
        assert f"--{name}" in out
    assert "Beam's pipeline options (--runner, --project, --region, ...) are accepted as well." in " ".join(out.split())


def test_the_workers_image_is_the_one_given(monkeypatch):
    monkeypatch.setenv(parameters.TEMPLATE_IMAGE_VARIABLE, "elsewhere/other:tag")
    options = PipelineOptions([f"--sdk_container_image={IMAGE}"])
    launch.choose_worker_image(options)
    assert options.view_as(WorkerOptions).sdk_container_image == IMAGE


def test_else_the_image_names_itself(monkeypatch):
    monkeypatch.setenv(parameters.TEMPLATE_IMAGE_VARIABLE, IMAGE)
    options = PipelineOptions([])
    launch.choose_worker_image(options)
    assert options.view_as(WorkerOptions).sdk_container_image == IMAGE


def test_without_either_the_launch_stops(monkeypatch):
    monkeypatch.delenv(parameters.TEMPLATE_IMAGE_VARIABLE, raising=False)
    with pytest.raises(ConfigError) as caught:
        launch.choose_worker_image(PipelineOptions([]))
    assert str(caught.value) == (
        "--sdk_container_image: missing, and TRANSACOES_TEMPLATE_IMAGE is not set in this image; the workers would "
        "run Beam's stock image, without the pipeline (expected <registry>/<path>:<tag> or "
        "<registry>/<path>@sha256:<digest>)"
    )


def test_an_image_of_another_form_stops_the_launch(monkeypatch):
    monkeypatch.delenv(parameters.TEMPLATE_IMAGE_VARIABLE, raising=False)
    with pytest.raises(ConfigError) as caught:
        launch.choose_worker_image(PipelineOptions(["--sdk_container_image=Not An Image"]))
    assert str(caught.value) == (
        "--sdk_container_image: 'Not An Image' is not <registry>/<path>:<tag> or <registry>/<path>@sha256:<digest>"
    )


def test_on_dataflow_a_launch_without_a_worker_image_ends_in_one_line_exit_2(monkeypatch, capsys):
    """Stopped before preflight: no Google service is reached (the stand-in fails if one is)."""
    monkeypatch.delenv(parameters.TEMPLATE_IMAGE_VARIABLE, raising=False)

    def reached(*args: object) -> None:
        raise AssertionError("preflight ran")

    monkeypatch.setattr(launch, "check_all", reached)
    assert launch.main(STREAM) == 2
    line = one_clean_line(capsys.readouterr().err, 400)
    assert line.startswith("error: --sdk_container_image: missing, and TRANSACOES_TEMPLATE_IMAGE is not set")


def test_a_bad_parameter_ends_the_launch_before_anything_else(monkeypatch, capsys):
    monkeypatch.setattr(launch, "check_all", lambda config: pytest.fail("preflight ran"))
    assert launch.main([*STREAM, "--bigtable_table=a b"]) == 2
    assert one_clean_line(capsys.readouterr().err, 400).startswith("error: --bigtable_table: 'a b' is not a table id")
