"""`make bench` runs end to end (tiny sizes: this checks that it works, never how fast)."""

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("shared-topics"),
]  # tests/conftest.py, "Parallel workers"
ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = (
    "transform (per core)",
    "sink: whole pipeline",
    "sink: write stage only",
    "sink: rollups, per row (marginal)",
    "sink: rollups, whole run (reference)",
    "backfill (batch job)",
    "backfill + rollups, 600 users, one day",
    "backfill + rollups, one user-day per row",
    "publish: producer",
    "publish: raw gRPC ceiling (reference)",
)


def test_every_benchmark_runs_checks_its_rows_and_writes_results(emulators, tmp_path):
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--rows",
            "400",
            "--messages",
            "400",
            "--rounds",
            "1",
            "--no-big",
            "--latency-rate",
            "20",
            "--latency-seconds",
            "2",
            "--burst",
            "40",
            "--out",
            str(out),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for kind in ("sink", "backfill"):  # both writers' tables compared, at both curve sizes
        for rows in (40, 400):
            assert f"same {rows} rows in bench_{kind}_baseline and bench_{kind}_ours" in done.stdout
    assert "backfill on 2 worker processes: 400 rows" in done.stdout
    assert "same key and cells from both for all 400 messages; both refuse 6 broken kinds" in done.stdout
    results = out.read_text()
    for workload in WORKLOADS:
        assert f"| {workload} |" in results
    assert "## Cost curve" in results and "| backfill | ours, 2 processes | 400 |" in results
    assert "## Sizing" in results and (tmp_path / "curve.svg").read_text().startswith("<?xml")
    assert "## Rollups at two cardinalities" in results
    assert "| one user-day per row | 400 | 407 | " in results  # every line its user-day, and 7 category-minutes
    assert "with rollups: CPU-s/s | workers | Bigtable SSD nodes |" in results
    assert "## Streaming latency (local direct runner)" in results and "p99" in results
    assert "- machine: " in results and f"apache-beam {metadata.version('apache-beam')}" in results
