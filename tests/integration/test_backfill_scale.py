"""The backfill at scale, on the emulators: memory that does not grow with the file, and a
file spread over two local worker processes giving the very same table as one process.

Each job runs in a process of its own (``benchmarks.jobs``, as ``make bench`` runs it), so its
peak RSS is its own. Sizes are kept small enough for ``make test``; ``make bench --big`` takes
the same measures at 1,000,000 rows.
"""

import pytest

from benchmarks import backfill, curve, workloads

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("backfill-scale"),
]  # tests/conftest.py, "Parallel workers"

SMALL, LARGE = 10_000, 100_000  # the large file (6 MB) is cut into ranges of about 2.5 MB


@pytest.fixture(scope="module")
def dead_letter_topic(emulators):
    from google.cloud import pubsub_v1

    from tests.integration.harness import PROJECT

    topic = f"projects/{PROJECT}/topics/backfill-scale-dead-letters"
    pubsub_v1.PublisherClient().create_topic(name=topic)
    return ("--dead-letter-topic", topic)


def test_peak_memory_does_not_grow_with_the_file(tmp_path, dead_letter_topic):
    peaks = {}
    for rows in (SMALL, LARGE):
        path = workloads.write_csv(tmp_path / f"{rows}.csv", rows)
        curve.fresh_table("bench_backfill_ours")
        sample, _ = curve.job_run("backfill", "ours", path, "bench_backfill_ours", rows, *dead_letter_topic)
        peaks[rows] = sample.peak_rss_mib  # job_run has checked that every row was written
    assert peaks[LARGE] <= peaks[SMALL] * (1 + curve.MEMORY_GROWTH_LIMIT), peaks


def test_two_worker_processes_read_ranges_and_write_the_same_table(tmp_path, dead_letter_topic):
    path = workloads.write_csv(tmp_path / "large.csv", LARGE)
    curve.fresh_table("bench_backfill_ours")
    curve.job_run("backfill", "ours", path, "bench_backfill_ours", LARGE, *dead_letter_topic)
    log: list[str] = []

    point = backfill.parallel_run(path, LARGE, dead_letter_topic, log.append)  # raises unless both read, same table

    processes = [line for line in log if line.startswith("  process ")]
    assert len(processes) == backfill.PARALLEL_WORKERS, log
    assert any(
        line.startswith(f"  same {LARGE:,} rows in bench_backfill_ours and bench_backfill_parallel") for line in log
    )
    assert point.sample.rows == LARGE
