"""The launch contract: template/main.py run the way the Flex Template launcher runs it.

The image (Dockerfile) is rebuilt here as far as a machine without Docker allows: a clean
virtual environment gets the hash-locked requirements.lock alone (``--require-hashes``, then
``pip check``), then the project from a copy of exactly what the Dockerfile COPYs, installed
with the Dockerfile's own flags (no dependencies, the locked setuptools, no build isolation).
Then ``python <copy>/template/main.py`` runs from that copy, as ``FLEX_TEMPLATE_PYTHON_PY_FILE``
does, with each template's metadata parameters as ``--name=value`` and the options the launcher
adds. Only the runner differs (the launcher says DataflowRunner): the local one is used, against
the emulators, and the rows must land.

The environment is cached under .local/ by the hash of requirements.lock (a fresh clone builds
it once, in about a minute with pip's cache warm).
"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.images import copy_sources, locked_environment, pip, project_install_flags, run
from tests.imports import package_module_names, verbose_imports
from tests.integration.harness import (
    INSTANCE,
    PROJECT,
    provision_for_test,
    publish,
    pull_dead_letters,
    read_rows,
    wait_for_rows,
)
from tests.messages import attributes_of, encode, invalid_messages, valid_record
from transactions_pipeline.parameters import BACKFILL, STREAM
from transactions_tools import template_metadata

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("template-image"),
]  # tests/conftest.py, "Parallel workers"
ROOT = Path(__file__).resolve().parents[2]
METADATA = {template: json.loads((ROOT / name).read_text()) for template, name in template_metadata.FILES.items()}


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> tuple[Path, Path]:
    """(python of the clean environment, the image's working directory with the copied sources)."""
    dockerfile = ROOT / "Dockerfile"
    python = locked_environment(ROOT / "requirements.lock", ROOT / ".local" / "launch-contract-venv")
    workdir = tmp_path_factory.mktemp("template")  # the image's WORKDIR
    copy_sources(dockerfile, workdir)
    flags = project_install_flags(dockerfile)
    assert flags == ["--no-deps", "--no-build-isolation"], "the Dockerfile builds with the locked setuptools"
    pip(python, "install", *flags, "--force-reinstall", str(workdir), timeout=300)
    pip(python, "check")
    return python, workdir


def launcher_environment(emulators) -> dict[str, str]:
    """No PYTHONPATH and nothing from the test run but the emulators' addresses."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **emulators.environment()}


def launch_command(template: str, python: Path, workdir: Path, parameters: dict[str, str], tmp_path: Path) -> list[str]:
    names = {p["name"] for p in METADATA[template]["parameters"]}
    assert set(parameters) <= names, f"only {template} parameters are passed as parameters"
    launcher_options = [  # what the launcher adds; the runner is the local one instead of DataflowRunner
        "--runner=DirectRunner",
        f"--project={PROJECT}",
        "--region=us-central1",
        "--job_name=launch-contract",
        f"--staging_location={tmp_path / 'staging'}",
        f"--temp_location={tmp_path / 'temp'}",
        f"--template_location={tmp_path / 'template.json'}",
        "--sdk_container_image=us-central1-docker.pkg.dev/my-project/dataflow/transacoes-template:v1",
    ]
    return [
        str(python),
        str(workdir / "template" / "main.py"),
        *[f"--{k}={v}" for k, v in parameters.items()],
        *launcher_options,
    ]


def test_the_image_runs_the_installed_package_not_the_source_tree(image):
    """As the launcher runs it: the package comes from site-packages, never from the copied sources,
    and none of its modules is a top-level import (main.py's folder holds none of them)."""
    python, workdir = image
    names, files = verbose_imports(
        [str(python), str(workdir / "template" / "main.py"), "--help"], cwd=workdir, env={"PATH": os.environ["PATH"]}
    )
    loaded = {str(f).replace("/__pycache__/", "/").split(".cpython-")[0].removesuffix(".py") for f in files}
    assert any(f.endswith("site-packages/transactions_pipeline/launch") for f in loaded), sorted(loaded)[:20]
    assert any(f.endswith("site-packages/transactions/contract") for f in loaded)
    assert not [f for f in files if workdir in f.parents], "nothing may load from the copied sources"
    assert not names & package_module_names(workdir / "transactions_pipeline")


@pytest.mark.parametrize("module", ["producer", "transactions_tools", "pytest", "benchmarks"])
def test_the_image_carries_only_what_it_runs(image, module):
    python, _ = image
    found = subprocess.run([str(python), "-c", f"import {module}"], cwd="/", capture_output=True)
    assert found.returncode != 0, f"{module} is importable in the template image"


def test_streaming_launch_writes_rows_and_dead_letters(image, emulators, unique, tmp_path):
    python, workdir = image
    resources = provision_for_test(unique)
    parameters = {
        "input_subscription": resources.subscription_path(resources.subscription),
        "bigtable_instance": INSTANCE,
        "bigtable_table": resources.table,
        "dead_letter_topic": resources.topic_path(resources.dead_letter_topic),
        "bigtable_project": PROJECT,
        "column_family": "dados",
    }
    log = (tmp_path / "launcher.log").open("w")
    job = subprocess.Popen(
        launch_command(STREAM, python, workdir, parameters, tmp_path),
        cwd=workdir,
        env=launcher_environment(emulators),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        time.sleep(3)
        assert job.poll() is None, (tmp_path / "launcher.log").read_text()[-3000:]
        records = [valid_record(i) for i in range(20)]
        bad = invalid_messages()[:5]
        publish(
            resources,
            [(encode(r), attributes_of(r)) for r in records]
            + [(data, {"transaction_id": f"bad-{i}"}) for i, (data, _, _) in enumerate(bad)],
        )
        wait_for_rows(resources, 20, timeout=120)
        assert {key.split(b"#")[2].decode() for key in read_rows(resources)} == {r["transaction_id"] for r in records}
        letters = pull_dead_letters(resources, 5, timeout=60)
        assert sorted((m.attributes["error_stage"], m.attributes["error_reason"]) for m in letters) == sorted(
            (stage, reason) for _, stage, reason in bad
        )
    finally:
        os.killpg(job.pid, 15)
        job.wait(timeout=30)
        log.close()


def test_backfill_launch_runs_to_completion(image, emulators, unique, tmp_path):
    python, workdir = image
    resources = provision_for_test(unique)
    csv_path = tmp_path / "sales.csv"
    csv_path.write_text(
        "User_ID,Product_ID,Category,Price (Rs.),Discount (%),Final_Price(Rs.),Payment_Method,Purchase_Date\n"
        "02428050,45a95ff7,Sports,323.1,25,242.33,Credit Card,12-04-2024\n"
        "98857e41,9ff92da9,Books,100,10,50,UPI,09-11-2024\n"  # final price mismatch
    )
    parameters = {
        "input_file": str(csv_path),
        "bigtable_instance": INSTANCE,
        "bigtable_table": resources.table,
        "dead_letter_topic": resources.topic_path(resources.dead_letter_topic),
    }
    run(
        launch_command(BACKFILL, python, workdir, parameters, tmp_path),
        cwd=workdir,
        env=launcher_environment(emulators),
        timeout=300,
    )
    assert [key.split(b"#")[0] for key in read_rows(resources)] == [b"02428050"]
    [letter] = pull_dead_letters(resources, 1, timeout=30)
    assert letter.attributes["error_reason"] == "final_price_mismatch"
    assert letter.data == b"98857e41,9ff92da9,Books,100,10,50,UPI,09-11-2024"
