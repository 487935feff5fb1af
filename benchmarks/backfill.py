"""Backfill benchmark: a Kaggle-format CSV through the batch job, with either sink.

Ours is the job itself (``pipeline.run`` with ``input_file``, as ``main.py`` runs it, dead-letter
steps included). The baseline is the same read and the same parse step, with the rows written
as ``DirectRow``s by Beam's ``WriteToBigTable`` (``use_cross_language=False``); the floor drops
the rows instead of writing them (:mod:`benchmarks.jobs`). Each writer has its own table,
emptied before every run; afterwards both must hold the same cells.

Then the job runs once more on the largest file with two local worker processes
(``--direct_running_mode=multi_processing``): each must have read byte ranges of the file, and
the table must be the very same as the one-process run's (sha256 over every cell and timestamp).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from benchmarks import curve, workloads
from benchmarks.measure import Result, faster

PARALLEL_WORKERS = 2
SPLIT_BYTES = 4 << 20
"""Beam cuts a file into chunks of at least 1 MiB (``Read.get_desired_chunk_size``), so only a file
of a few MiB is sure to give every worker a range; below this the spread is reported, not required."""


def run(sizes: list[int], goal_size: int, rounds: int, work_dir: Path, dead_letter_topic: str, log=print):
    """The goal line at ``goal_size``, the curve's points, and the two-process run's point."""
    files = {}

    def csv_file(size: int) -> Path:
        files[size] = workloads.write_csv(work_dir / f"backfill-{size}.csv", size)
        return files[size]

    topic = ("--dead-letter-topic", dead_letter_topic)
    medians, _, points = curve.run_sizes("backfill", sizes, goal_size, rounds, csv_file, *topic, log=log)
    points.append(parallel_run(files[max(sizes)], max(sizes), topic, log))
    result = Result(
        "backfill (batch job)",
        "same job, WriteToBigTable",
        "--input_file job",
        medians["baseline"],
        medians["ours"],
        goal=faster(5),
        floor=medians["floor"],
    )
    return [result], points


def parallel_run(path: Path, size: int, topic: tuple[str, str], log=print) -> curve.Point:
    """The job on two worker processes: both read ranges, and the table equals the one-process one."""
    table = "bench_backfill_parallel"
    curve.fresh_table(table)
    workers = ("--workers", str(PARALLEL_WORKERS))
    sample, found = curve.job_run("backfill", "ours", path, table, size, *topic, *workers)
    by_process = defaultdict(list)
    for start, stop, pid in found["ranges"]:
        by_process[pid].append((start, stop))
    log(
        f"backfill on {PARALLEL_WORKERS} worker processes: {size:,} rows in {sample.seconds:.1f}s "
        f"({sample.rows_per_second:,.0f}/s); byte ranges read per process:"
    )
    for pid, ranges in sorted(by_process.items()):
        log(f"  process {pid}: " + ", ".join(f"[{start:,}, {stop:,})" for start, stop in sorted(ranges)))
    if len(by_process) < PARALLEL_WORKERS and path.stat().st_size >= SPLIT_BYTES:
        raise AssertionError(f"only {len(by_process)} process(es) read ranges of the file: {found['ranges']}")
    curve.same_rows("bench_backfill_ours", table, size, log)
    return curve.Point("backfill", f"ours, {PARALLEL_WORKERS} processes", sample)
