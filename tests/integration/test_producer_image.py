"""The producer image, rebuilt without Docker: its lock file alone in a clean virtual environment,
exactly what producer/Dockerfile copies, and ``python -m producer`` run from the image's WORKDIR."""

import subprocess
from pathlib import Path

import orjson
import pytest

from tests.images import ROOT, copy_sources, locked_environment, run

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("producer-image"),
]  # tests/conftest.py, "Parallel workers"


@pytest.fixture(scope="module")
def producer_image(tmp_path_factory) -> tuple[Path, Path]:
    python = locked_environment(ROOT / "producer" / "requirements.lock", ROOT / ".local" / "producer-image-venv")
    workdir = tmp_path_factory.mktemp("app")  # WORKDIR /app
    copy_sources(ROOT / "producer" / "Dockerfile", workdir)
    return python, workdir


def test_the_producer_runs_from_its_image_with_the_sample_it_carries(producer_image):
    python, workdir = producer_image
    done = run(
        [str(python), "-m", "producer", "--dry-run", "--limit", "3", "--run-id", "img"],
        cwd=workdir,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert [orjson.loads(line)["transaction_id"] for line in done.stdout.splitlines()] == [
        "img:0:2",
        "img:0:3",
        "img:0:4",
    ]


@pytest.mark.parametrize("module", ["apache_beam", "transactions_pipeline", "transactions_tools"])
def test_the_producer_image_carries_neither_beam_nor_the_pipeline(producer_image, module):
    python, workdir = producer_image
    found = subprocess.run([str(python), "-c", f"import {module}"], cwd=workdir, capture_output=True)
    assert found.returncode != 0, f"{module} is importable in the producer image"
