"""How cost grows with the work: the sink and backfill jobs at several sizes, tabled and plotted.

Every point is one pipeline run in a process of its own (:mod:`benchmarks.jobs`), so each has
its own wall time, CPU (the process and any worker process it started) and peak RSS. At the
goal size the contenders alternate for several rounds and the medians feed the goals; the other
sizes get one round each. The baseline runs only up to the goal size: at ten times that it
would take longer than the rest of ``make bench`` together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks.jobs import rollups_table
from benchmarks.measure import Contender, Sample, alternate, run_child
from transactions import rollup_layout
from transactions_tools import defaults
from transactions_tools.digest import table_digest
from transactions_tools.provision import create_table

MEMORY_GROWTH_LIMIT = 0.20
"""The backfill's peak RSS at the largest size may exceed the goal size's by at most this share."""


@dataclass(frozen=True)
class Point:
    """One measured run: which benchmark, which contender, and its sample."""

    benchmark: str
    contender: str
    sample: Sample


BENCH_TABLE_PREFIX = "bench_"
"""Every table a benchmark writes is named so (``bench_<kind>_<contender>``, ``..._rollups``)."""


def drop_tables(own_emulator: bool) -> None:
    """Delete the benchmarks' tables, so that each benchmark starts on an empty emulator: its
    memory, and its Go collector's work, would otherwise carry the earlier benchmarks' tables (a
    million rows each at the cost curve's largest points) into the next. Only on an emulator this
    run started: one reused from the environment is shared (the tests run beside each other on
    one), and its tables are left alone."""
    if not own_emulator:
        return
    from transactions_wire import clients

    with clients.bigtable_admin(defaults.PROJECT) as client:
        for table in client.instance(defaults.INSTANCE).list_tables():
            if table.table_id.startswith(BENCH_TABLE_PREFIX):
                table.delete()


def bigtable_table(name: str):
    from google.cloud import bigtable

    return bigtable.Client(project=defaults.PROJECT, admin=True).instance(defaults.INSTANCE).table(name)


def fresh_table(name: str, families: tuple[str, ...] = (defaults.COLUMN_FAMILY,)) -> None:
    """Create the table (``families``, one version each) if needed, and empty it."""
    create_table(defaults.PROJECT, defaults.INSTANCE, name, families, log=lambda _: None)
    bigtable_table(name).truncate(timeout=300)


def same_rows(first_table: str, second_table: str, expected_rows: int, log=print) -> str:
    """Both tables hold the same cells, ``expected_rows`` rows of them; their sha256, or raise."""
    found = {name: table_digest(name) for name in (first_table, second_table)}
    if found[first_table] != found[second_table] or found[second_table][0] != expected_rows:
        raise AssertionError(f"different tables: {found} (expected {expected_rows} rows)")
    digest = found[second_table][1]
    log(f"  same {expected_rows:,} rows in {first_table} and {second_table} (sha256 {digest[:16]}...)")
    return digest


def job_run(kind: str, contender: str, path: Path, table: str, rows: int, *extra: str) -> tuple[Sample, dict]:
    """One run of :mod:`benchmarks.jobs`; for ours, the job must count every row as written."""
    sample, found = run_child(
        "benchmarks.jobs", kind, contender, "--input", str(path), "--table", table, "--rows", str(rows), *extra
    )
    if contender in ("ours", "rollups") and found["written"] != rows:
        raise AssertionError(f"{kind} {contender}: the job wrote {found['written']:,} rows of {rows:,}")
    return sample, found


def job_sample(kind: str, contender: str, path: Path, table: str, rows: int, *extra: str) -> Sample:
    """:func:`job_run`'s sample alone."""
    return job_run(kind, contender, path, table, rows, *extra)[0]


def run_sizes(
    kind: str,
    sizes: list[int],
    goal_size: int,
    rounds: int,
    make_input: Callable[[int], Path],
    *extra: str,
    up_to_goal: tuple[str, ...] = ("baseline",),
    log=print,
) -> tuple[dict[str, Sample], list[dict[str, Sample]], list[Point]]:
    """Floor and ours at every size, the ``up_to_goal`` contenders up to ``goal_size``; the goal
    size's medians, every size's medians, and the curve's points."""
    ours = f"bench_{kind}_ours"
    tables = {"baseline": f"bench_{kind}_baseline", "ours": ours, "rollups": ours, "floor": ""}

    def setup(name: str) -> None:
        if tables[name]:
            fresh_table(tables[name])
        if name == "rollups":
            fresh_table(rollups_table(ours), rollup_layout.FAMILIES)

    points, goal_medians, every_size = [], {}, []
    for size in sizes:
        path = make_input(size)
        names = ["floor", "ours", *(up_to_goal if size <= goal_size else ())]
        contenders = {
            name: Contender(
                partial(job_sample, kind, name, path, tables[name] or "-", size, *extra), partial(setup, name)
            )
            for name in names
        }
        log(f"{kind}: {size:,} rows, {rounds if size == goal_size else 1} round(s), a process per run")
        medians = alternate(contenders, rounds if size == goal_size else 1, log)
        if "baseline" in medians:
            same_rows(tables["baseline"], tables["ours"], size, log)
        points += [Point(kind, name, medians[name]) for name in names]
        every_size.append(medians)
        if size == goal_size:
            goal_medians = medians
    return goal_medians, every_size, points


def table(points: list[Point]) -> str:
    """The curve as a Markdown table."""
    lines = [
        "| benchmark | contender | rows | rows/s | CPU-s/10k rows | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for p in points:
        s = p.sample
        lines.append(
            f"| {p.benchmark} | {p.contender} | {s.rows:,} | {s.rows_per_second:,.0f} | {s.cpu_per_10k:.3f} "
            f"| {s.peak_rss_mib:.0f} |"
        )
    return "\n".join(lines)


def memory_verdict(points: list[Point], goal_size: int) -> str | None:
    """Whether the backfill's peak RSS stays flat from the goal size to the largest size."""
    ours = {p.sample.rows: p.sample for p in points if p.benchmark == "backfill" and p.contender == "ours"}
    largest = max(ours, default=0)
    if largest <= goal_size or goal_size not in ours:
        return None
    at_goal, at_largest = ours[goal_size].peak_rss_mib, ours[largest].peak_rss_mib
    growth = at_largest / at_goal - 1
    met = "met" if growth <= MEMORY_GROWTH_LIMIT else "NOT met"
    return (
        f"- backfill peak RSS at {largest:,} rows within {MEMORY_GROWTH_LIMIT:.0%} of {goal_size:,}: **{met}** "
        f"({at_largest:.0f} MiB vs {at_goal:.0f} MiB, {growth:+.0%})"
    )


def plot(points: list[Point], path: Path) -> Path:
    """Rows/s and CPU per row against rows, one line per benchmark and contender (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "transacoes"  # the same data gives the same file
    figure, (speed, cost) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"ours": "-o", "baseline": "--s", "floor": ":^", "rollups": "-.v"}
    for benchmark, colour in (("sink", "tab:blue"), ("backfill", "tab:orange")):
        contenders = dict.fromkeys(p.contender for p in points if p.benchmark == benchmark)
        for contender in contenders:
            style = styles.get(contender, "D")  # a lone run (two processes): a marker
            found = sorted(
                (p.sample for p in points if (p.benchmark, p.contender) == (benchmark, contender)),
                key=lambda s: s.rows,
            )
            if not found:
                continue
            rows = [s.rows for s in found]
            label = f"{benchmark}: {contender}"
            speed.plot(rows, [s.rows_per_second for s in found], style, color=colour, label=label)
            cost.plot(rows, [s.cpu_seconds / s.rows * 1e6 for s in found], style, color=colour, label=label)
    for axes, title in ((speed, "rows per second (higher is better)"), (cost, "CPU µs per row (lower is better)")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("rows in the run")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
    cost.legend(fontsize=8, loc="best")
    figure.suptitle("Cost curve: local FnApiRunner against the Bigtable emulator, one process per run")
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)
    return path


SIZING_RATES = (1_000, 10_000, 100_000)
SIZING_MACHINE = "n1-standard-2"
SIZING_VCPUS = 2
SIZING_UTILIZATION = 0.7
SIZING_STREAMING_ALLOWANCE = 2.0
SIZING_WRITES_PER_NODE = 14_000
SIZING_ROLLUP_FIRINGS_PER_ROW = 2
"""A user-day window with one sale fires twice in a stream: early (10 s after the sale) and on
time (when the day ends). Real sales are nearly one user-day per row (docs/performance.md)."""
"""Bigtable's documented write throughput of one SSD node (1 KB rows; "Understand performance")."""


def sizing(cpu_seconds_per_row: float, rollups_cpu_seconds_per_window: float | None = None) -> str:
    """Workers of ``SIZING_MACHINE`` for each rate in ``SIZING_RATES``, from a measured CPU per row;
    with the rollups' CPU per window, the same with the rollups at realistic cardinality: every
    row its own user-day window, which fires ``SIZING_ROLLUP_FIRINGS_PER_ROW`` times in a stream,
    each firing writing two rows (its set and its totals) and reading one."""
    import math

    usable = SIZING_VCPUS * SIZING_UTILIZATION
    per_row = cpu_seconds_per_row * SIZING_STREAMING_ALLOWANCE
    header = (
        f"| rows/s | CPU-s/s needed (× {SIZING_STREAMING_ALLOWANCE:g} allowance) | {SIZING_MACHINE} workers "
        "| Bigtable SSD nodes |"
    )
    rule = "|---|---|---|---|"
    with_rollups = None
    if rollups_cpu_seconds_per_window is not None:
        firings = SIZING_ROLLUP_FIRINGS_PER_ROW
        with_rollups = (cpu_seconds_per_row + firings * rollups_cpu_seconds_per_window) * SIZING_STREAMING_ALLOWANCE
        header += " with rollups: CPU-s/s | workers | Bigtable SSD nodes |"
        rule += "---|---|---|"
    lines = [header, rule]
    for rate in SIZING_RATES:
        needed = rate * per_row
        workers, nodes = max(1, math.ceil(needed / usable)), max(1, math.ceil(rate / SIZING_WRITES_PER_NODE))
        line = f"| {rate:,} | {needed:.2f} | {workers} | {nodes} |"
        if with_rollups is not None:
            rollups_needed = rate * with_rollups
            writes = rate * (1 + 2 * SIZING_ROLLUP_FIRINGS_PER_ROW)
            line += (
                f" {rollups_needed:.2f} | {max(1, math.ceil(rollups_needed / usable))} "
                f"| {max(1, math.ceil(writes / SIZING_WRITES_PER_NODE))} |"
            )
        lines.append(line)
    return "\n".join(lines)
