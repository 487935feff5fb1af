"""`make demo`'s orchestration on a smaller input, and its failure paths."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.output import first_group

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("shared-topics"),
]  # tests/conftest.py, "Parallel workers"
ROOT = Path(__file__).resolve().parents[2]


def demo(*args, env=None, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "transactions_tools.local.demo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env or os.environ.copy(),
    )


def test_demo_accounts_for_every_message_and_prints_newest_first(emulators, tmp_path):
    result = demo("--limit", "200", "--rate", "100", "--invalid-share", "0.1", "--log-dir", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.split("\nsummary\n")[1]
    published = int(first_group(r"published\s+(\d+)\n", out))
    written = int(first_group(r"written\s+(\d+) rows", out))
    dead = int(first_group(r"dead-lettered\s+(\d+)\s", out))
    assert published == 200
    assert written + dead == published
    assert 5 <= dead <= 40  # about 10% broken on purpose
    assert "accounted for   200 of 200 (OK)" in out
    assert re.search(r"freshness .* p50 \d+\.\d\ds, p95 \d+\.\d\ds", out), "the dashboard's figures, locally"
    assert re.search(r"dead-lettered   \d+  \{'(parse|validate)/\w+': \d+", out)
    table = out.split("newest first):\n")[1].split("\n\n")[0].splitlines()
    times = [line[:23] for line in table[2:]]
    assert times and times == sorted(times, reverse=True)
    counted = re.search(r"(\d+) transactions counted in the run's minutes \(this run wrote (\d+) rows\)", out)
    assert counted and counted.group(1) == counted.group(2) == str(written), "the rollups count every row, once"
    assert (tmp_path / "pipeline.log").exists() and (tmp_path / "producer.log").exists()


def test_missing_cloud_cli_says_what_to_install(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PUBSUB_EMULATOR_HOST", "BIGTABLE_EMULATOR_HOST")}
    env["PATH"] = str(Path(sys.executable).parent) + ":/usr/local/sbin:/nonexistent"
    result = demo("--log-dir", str(tmp_path), env=env, timeout=60)
    assert result.returncode == 1
    assert "gcloud components install beta pubsub-emulator bigtable cbt" in result.stderr
    assert "Traceback" not in result.stderr


def test_pipeline_dying_stops_the_demo_with_its_last_lines(emulators, tmp_path):
    result = demo(
        "--log-dir",
        str(tmp_path),
        "--pipeline-warmup",
        "20",
        "--pipeline-arg=--column_family=missing",
        timeout=120,
    )
    assert result.returncode == 1
    assert "error: the pipeline exited with 2" in result.stderr
    assert (
        "--column_family: table projects/local-project/instances/local-instance/tables/transacoes has no column family 'missing'"
        in result.stderr
    )
