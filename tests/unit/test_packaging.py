"""The Flex Template's launch contract: metadata.json, the image, the lock files, Cloud Build.

None of this can run here (no Docker engine, no project), so these tests pin it by
construction: they fail when the parameters, versions or build steps drift apart.
"""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from apache_beam.options.pipeline_options import PipelineOptions

from tests.images import copied_sources
from transactions import resource_names
from transactions_pipeline.options import FORMS, PARAMETERS, TransactionsOptions

ROOT = Path(__file__).resolve().parents[2]
METADATA = json.loads((ROOT / "metadata.json").read_text())
PARAMS = {p["name"]: p for p in METADATA["parameters"]}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
ALLOWED_FIELDS = {
    "name",
    "label",
    "helpText",
    "isOptional",
    "regexes",
    "paramType",
    "defaultValue",
    "groupName",
    "parentName",
    "parentTriggerValues",
    "enumOptions",
    "customMetadata",
    "hiddenUi",
}


def beam_pin() -> str:
    [pin] = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("apache-beam")]
    return re.fullmatch(r"apache-beam\[gcp\]==([\d.]+)", pin).group(1)


def option_defaults() -> dict:
    parser = __import__("argparse").ArgumentParser()
    TransactionsOptions._add_argparse_args(parser)
    return {a.dest: a.default for a in parser._actions if a.dest != "help"}


def test_every_metadata_parameter_is_a_pipeline_option_and_back():
    assert set(PARAMS) == set(option_defaults()) == set(PARAMETERS)


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_fields_optionality_and_defaults(name):
    param = PARAMS[name]
    assert set(param) <= ALLOWED_FIELDS, "field names are the camelCase ones the Dataflow API reads"
    assert param["label"] and param["helpText"] and param["groupName"]
    default = option_defaults()[name]
    # The two inputs are both optional in the form: exactly one of them is checked at launch.
    required = name in {"bigtable_instance", "bigtable_table", "dead_letter_topic"}
    assert param["isOptional"] is (not required)
    if param["isOptional"] and default is not None:
        assert param["defaultValue"] == default
    assert "defaultValue" not in param or param["isOptional"]


def test_param_types():
    assert PARAMS["input_subscription"]["paramType"] == "PUBSUB_SUBSCRIPTION"
    assert PARAMS["dead_letter_topic"]["paramType"] == "PUBSUB_TOPIC"
    assert PARAMS["input_file"]["paramType"] == "GCS_READ_FILE"
    others = set(PARAMS) - {"input_subscription", "dead_letter_topic", "input_file"}
    assert {PARAMS[n]["paramType"] for n in others} == {"TEXT"}


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        (
            "input_subscription",
            "projects/my-project/subscriptions/transacoes-pipeline",
            ["transacoes", "projects/my-project/topics/t1x", "projects/p/subscriptions/abc"],
        ),
        (
            "dead_letter_topic",
            "projects/my-project/topics/dead-letter",
            ["projects/my-project/subscriptions/x12", "dead-letter"],
        ),
        ("bigtable_instance", "my-instance", ["My_Instance", "abc"]),
        ("bigtable_table", "transacoes", ["has space", ""]),
        ("bigtable_project", "my-project-123", ["X", "my_project"]),
        ("column_family", "dados", ["a:b", ""]),
        ("bigtable_app_profile", "", ["has space"]),
        (
            "input_file",
            "gs://my-bucket/sales/*.csv",
            ["s3://my-bucket/a.csv", "gs://My_Bucket/a.csv", "gs://my-bucket/", ""],
        ),
    ],
)
def test_regexes_accept_valid_and_reject_invalid(name, good, bad):
    [regex] = PARAMS[name]["regexes"]
    assert re.fullmatch(regex, good)
    for value in bad:
        assert not re.fullmatch(regex, value), value


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_metadata_regex_is_the_launch_check(name):
    """The Console form and the launch-time check accept exactly the same values."""
    assert PARAMS[name]["regexes"] == [f"^{FORMS[name].pattern}$"]
    # Look-arounds and back-references do not compile in RE2, which Google services use.
    assert not re.search(r"\(\?(<?[=!])|\\[1-9]", FORMS[name].pattern)


def test_the_pipeline_checks_names_with_the_shared_forms():
    assert FORMS["dead_letter_topic"] is resource_names.FORMS["topic"]
    assert FORMS["input_subscription"] is resource_names.FORMS["subscription"]


def test_streaming_fields():
    assert METADATA["streaming"] is True
    assert METADATA["supportsAtLeastOnce"] is True and METADATA["supportsExactlyOnce"] is True
    assert METADATA["defaultStreamingMode"] in {"AT_LEAST_ONCE", "EXACTLY_ONCE"}


def test_beam_version_is_one_and_the_same_everywhere():
    version = beam_pin()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"^ARG BEAM_VERSION={re.escape(version)}$", dockerfile, re.M)
    assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION}" in dockerfile
    lock = (ROOT / "requirements.lock").read_text()
    assert re.search(rf"^apache-beam==({re.escape(version)}) ", lock, re.M) or f"apache-beam=={version} \\" in lock
    cloudbuild = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert cloudbuild["substitutions"]["_BEAM_VERSION"] == version


def test_python_minor_version_of_images_matches_the_project():
    assert PYPROJECT["project"]["requires-python"].startswith(">=3.11")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "beam_python3.11_sdk" in dockerfile and "python311-template-launcher-base" in dockerfile
    assert "FROM python:3.11-slim" in dockerfile
    assert "FROM python:3.11-slim" in (ROOT / "producer" / "Dockerfile").read_text()


def test_dockerfile_launch_settings():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENV FLEX_TEMPLATE_PYTHON_PY_FILE="${WORKDIR}/template/main.py"' in dockerfile
    assert "ENV FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE" not in dockerfile
    assert "ENV FLEX_TEMPLATE_PYTHON_SETUP_FILE" not in dockerfile
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in dockerfile
    assert "--require-hashes -r requirements.lock" in dockerfile and "pip check" in dockerfile
    assert re.search(r"^ARG LAUNCHER_TAG=(latest|20230622_RC00)$", dockerfile, re.M)


def test_every_locked_requirement_is_hashed():
    for lock in (ROOT / "requirements.lock", ROOT / "producer" / "requirements.lock"):
        blocks = [b for b in re.split(r"\n(?=[a-z0-9])", lock.read_text()) if "==" in b and not b.startswith("#")]
        assert blocks
        for block in blocks:
            assert "--hash=sha256:" in block, block.splitlines()[0]


def test_producer_lock_has_no_beam_and_matches_pyproject_ranges():
    lock = (ROOT / "producer" / "requirements.lock").read_text()
    assert "apache-beam" not in lock
    ranges = {
        line.split(">=")[0]: line
        for line in (ROOT / "producer" / "requirements.in").read_text().splitlines()
        if line and not line.startswith("#")
    }
    deps = {d.split(">=")[0]: d for d in PYPROJECT["project"]["dependencies"]}
    for name, spec in ranges.items():
        assert deps[name] == spec


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "producer/Dockerfile"])
def test_hadolint_passes(dockerfile):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(ROOT / dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_producer_image_runs_as_non_root():
    dockerfile = (ROOT / "producer" / "Dockerfile").read_text()
    assert (
        "USER 10001" in dockerfile
        and "useradd" in dockerfile
        and 'ENTRYPOINT ["python", "-m", "producer"]' in dockerfile
    )
    assert "apache-beam" not in dockerfile


def test_cloudbuild_substitutions_are_all_defined():
    text = (ROOT / "cloudbuild.yaml").read_text()
    config = yaml.safe_load(text)
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", text))
    assert used <= set(config["substitutions"]), used - set(config["substitutions"])
    assert config["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    ids = [step["id"] for step in config["steps"]]
    assert (
        ids.index("unit-tests")
        < ids.index("build-template-image")
        < ids.index("push-template-image")
        < ids.index("build-spec")
    )
    spec_step = next(s for s in config["steps"] if s["id"] == "build-spec")["args"][-1]
    assert (
        "--print-only" in spec_step
        and "--sdk-language=PYTHON" in spec_step
        and "--metadata-file=metadata.json" in spec_step
    )
    assert "deploy/merge_spec.py" in spec_step


def test_spec_merge_restores_streaming_fields_and_sets_the_worker_image(tmp_path):
    image = "us-central1-docker.pkg.dev/p/dataflow/transacoes-template:v1.0.0"
    gcloud_output = {  # the shape `gcloud dataflow flex-template build --print-only` prints
        "image": image,
        "sdkInfo": {"language": "PYTHON"},
        "metadata": {
            k: v
            for k, v in METADATA.items()
            if k not in ("streaming", "supportsAtLeastOnce", "supportsExactlyOnce", "defaultStreamingMode")
        },
    }
    raw = tmp_path / "spec-raw.json"
    raw.write_text("Successfully saved container spec in flex template file.\n" + json.dumps(gcloud_output))
    out = tmp_path / "spec.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "merge_spec.py"),
            str(raw),
            str(ROOT / "metadata.json"),
            image,
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    spec = json.loads(out.read_text())
    for field in ("streaming", "supportsAtLeastOnce", "supportsExactlyOnce", "defaultStreamingMode"):
        assert spec["metadata"][field] == METADATA[field]
    assert spec["defaultEnvironment"]["sdkContainerImage"] == image
    assert spec["metadata"]["parameters"] == METADATA["parameters"]


def dockerignore_allows(path: str) -> bool:
    lines = [x for x in (ROOT / ".dockerignore").read_text().splitlines() if x and not x.startswith("#")]
    assert lines[0] == "*", "deny by default"
    allowed = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    parts = path.rstrip("/").split("/")
    return any("/".join(parts[: n + 1]) in allowed for n in range(len(parts)))


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "producer/Dockerfile"])
def test_dockerignore_lets_in_everything_the_images_copy(dockerfile):
    sources = copied_sources(ROOT / dockerfile)
    assert sources
    for source in sources:
        assert dockerignore_allows(source), f"{dockerfile} copies {source}, which .dockerignore leaves out"


FIRST_PARTY = {"transactions", "transactions_pipeline", "transactions_tools", "producer", "benchmarks", "tests"}


def first_party_imports(package: str) -> set[str]:
    import ast

    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            )
            found |= {name.split(".")[0] for name in names} & FIRST_PARTY
    return found


def test_each_image_carries_every_first_party_package_its_code_imports_and_nothing_else():
    assert first_party_imports("transactions") == {"transactions"}
    assert first_party_imports("template") == {"transactions", "transactions_pipeline"}
    assert {s.rstrip("/") for s in copied_sources(ROOT / "Dockerfile")} == {
        "requirements.lock",
        "pyproject.toml",
        "README.md",
        "transactions",
        "template",
    }
    assert first_party_imports("producer") == {"producer", "transactions"}, "no Beam, no pipeline in the producer"
    assert {s.rstrip("/") for s in copied_sources(ROOT / "producer" / "Dockerfile")} == {
        "producer/requirements.lock",
        "transactions",
        "producer",
        "data/sample_transactions.csv",
    }


def test_launcher_style_arguments_parse():
    """The launcher passes each parameter as --name=value plus its own options."""
    args = [f"--{name}=x" for name in PARAMS] + [
        "--runner=DataflowRunner",
        "--project=my-project",
        "--region=us-central1",
        "--staging_location=gs://b/staging",
        "--temp_location=gs://b/temp",
        "--job_name=j",
        "--template_location=gs://b/t",
    ]
    options = PipelineOptions(args).view_as(TransactionsOptions)
    assert all(getattr(options, name) == "x" for name in PARAMS)
