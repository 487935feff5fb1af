"""Rollups benchmark: what the live rollups add to a backfill, at two cardinalities of windows.

The rollups' cost grows with the number of windows they write, not with the number of rows, so
one workload alone says little. Both workloads here are Kaggle-format CSVs through the batch job
(:mod:`benchmarks.jobs`, ``backfill``): ``ours`` without a rollups table, ``rollups`` with one.

- ``600 users, one day``: the sample's 600 users, every sale on one day: a few hundred user-days
  and the day's category-minutes (a backfill's events fall at midnight of their day);
- ``one user-day per row``: every line its own user, so every line is a user-day window of its
  own: what real sales data looks like once its purchase dates are read (the project's own
  sample has 3,634 user-days in 3,660 lines).

Each run is a process of its own (wall, CPU, peak RSS); the contenders alternate for the rounds
and the medians are reported: the whole run's ratio (the goal: at most 2.5× the wall-clock time
and CPU of the backfill without rollups, for one user-day per row), and the rollups' CPU per row
and per window (the rollups run's CPU minus the plain run's, divided by rows, then by the windows
written: the rollups table's row count after the run).
"""

from __future__ import annotations

import csv
from functools import partial
from pathlib import Path

from benchmarks import curve, workloads
from benchmarks.jobs import rollups_table
from benchmarks.measure import Contender, Result, alternate, costs_at_most
from transactions import rollup_layout
from transactions.kaggle import HEADER

WORKLOADS = ("600 users, one day", "one user-day per row")
GOAL_RATIO = 2.5
ONE_DAY = "05-12-2024"


def write_workload(path: Path, workload: str, rows: int) -> Path:
    """``rows`` lines of the sample's generator, on one day, with the workload's users."""
    lines = workloads.csv_rows(rows)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        for index, fields in enumerate(lines):
            if workload == WORKLOADS[1]:
                fields[0] = f"u{index:09d}"
            fields[-1] = ONE_DAY
            writer.writerow(fields)
    return path


def windows_written(table: str) -> int:
    """How many windows the rollups wrote: the rows of the rollups table (a keys-only scan)."""
    from google.cloud.bigtable.row_filters import CellsRowLimitFilter, RowFilterChain, StripValueTransformerFilter

    keys_only = RowFilterChain([CellsRowLimitFilter(1), StripValueTransformerFilter(True)])
    return sum(1 for _ in curve.bigtable_table(rollups_table(table)).read_rows(filter_=keys_only))


def run(
    rows: int, rounds: int, work_dir: Path, dead_letter_topic: str, log=print
) -> tuple[list[Result], list[str], float]:
    """The whole-run line of each workload (the goal on one user-day per row), a section with the
    rollups' CPU per row and per window and the peak memory of both runs, and the rollups' CPU
    seconds per window at one user-day per row (for the sizing table)."""
    results, table = (
        [],
        [
            "| workload | rows | windows | wall ratio | CPU ratio | rollups' CPU per row | per window | peak RSS |",
            "|---|---|---|---|---|---|---|---|",
        ],
    )
    topic = ("--dead-letter-topic", dead_letter_topic)
    tables = {"ours": "bench_rollups_plain", "rollups": "bench_rollups_with"}
    for number, workload in enumerate(WORKLOADS):
        path = write_workload(work_dir / f"rollups-{number}.csv", workload, rows)

        def fresh_tables(contender: str) -> None:
            curve.fresh_table(tables[contender])
            if contender == "rollups":
                curve.fresh_table(rollups_table(tables[contender]), rollup_layout.FAMILIES)

        contenders = {
            name: Contender(
                partial(curve.job_sample, "backfill", name, path, tables[name], rows, *topic),
                partial(fresh_tables, name),
            )
            for name in tables
        }
        medians = alternate(contenders, rounds, log)
        windows = windows_written(tables["rollups"])
        plain, with_rollups = medians["ours"], medians["rollups"]
        extra_cpu = with_rollups.cpu_seconds - plain.cpu_seconds
        line = (
            f"| {workload} | {rows:,} | {windows:,} | {with_rollups.seconds / plain.seconds:.2f}× "
            f"| {with_rollups.cpu_seconds / plain.cpu_seconds:.2f}× | {extra_cpu / rows * 1e6:,.1f} µs "
            f"| {extra_cpu / max(1, windows) * 1e6:,.1f} µs "
            f"| {plain.peak_rss_mib:.0f} → {with_rollups.peak_rss_mib:.0f} MiB |"
        )
        log(line)
        table.append(line)
        per_window = extra_cpu / max(1, windows)
        goal = costs_at_most(GOAL_RATIO) if workload == WORKLOADS[1] else None
        name = f"backfill + rollups, {workload}"
        results.append(Result(name, "backfill without rollups", "with rollups", plain, with_rollups, goal=goal))
    section = [
        "",
        "## Rollups at two cardinalities",
        "",
        "The same backfill without and with `--rollups_table` (`benchmarks/rollups.py`); ratios are the whole",
        "process's, with rollups over without; the rollups' CPU is the difference of the two runs' medians, per row",
        "and per window written (the rollups table's rows).",
        "",
        *table,
    ]
    return results, section, per_window
