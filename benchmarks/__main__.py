"""``python -m benchmarks`` (``make bench``): every benchmark, one table, benchmarks/RESULTS.md."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from importlib import metadata
from pathlib import Path

from benchmarks import backfill, curve, latency, publish, rollups, sink, transform
from benchmarks.measure import Result, table
from transactions import resource_names
from transactions_tools import defaults
from transactions_tools.local import emulators as stack

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("transform", "sink", "backfill", "rollups", "publish", "latency")
PROJECT = defaults.PROJECT


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return (
        f"{os.cpu_count()} × {cpu}, {memory_kb / 1024 / 1024:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, apache-beam {metadata.version('apache-beam')}, "
        f"google-cloud-bigtable {metadata.version('google-cloud-bigtable')}, "
        f"google-cloud-pubsub {metadata.version('google-cloud-pubsub')}"
    )


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return (found.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")


def create_topic(name: str) -> str:
    from google.api_core import exceptions as api_exceptions
    from google.cloud import pubsub_v1

    path = resource_names.topic_path(PROJECT, name)
    with contextlib.suppress(api_exceptions.AlreadyExists):
        pubsub_v1.PublisherClient().create_topic(name=path)
    return path


def goals_met(results) -> list[str]:
    return [line for line in (r.verdict() for r in results) if line]


def curve_sizes(args) -> list[int]:
    """A tenth of ``--rows``, ``--rows``, and ten times it (unless ``--no-big``)."""
    return sorted({max(1, args.rows // 10), args.rows, *([args.rows * 10] if args.big else [])})


def sizing_basis(results) -> float | None:
    """CPU-seconds per row of our whole sink pipeline: what a streaming worker spends per row."""
    found = [r.ours for r in results if r.workload == "sink: whole pipeline" and r.ours.measurable]
    return found[0].cpu_seconds / found[0].rows if found else None


def curve_section(args, points, results, chart: Path | None, rollups_per_window: float | None = None) -> list[str]:
    if not points:
        return []
    lines = [
        "",
        "## Cost curve",
        "",
        f"Each point is one run in a process of its own; at {args.rows:,} rows, the median of the rounds. The baseline "
        f"stops at {args.rows:,} rows (at ten times that it alone would take longer than the rest of `make bench`); "
        "`make bench BENCH_ARGS=--no-big` leaves the ten-times points out.",
        "",
        curve.table(points),
    ]
    if chart:
        lines += ["", f"![cost curve]({chart.name})"]
    if memory := curve.memory_verdict(points, args.rows):
        lines += ["", memory]
    if basis := sizing_basis(results):
        lines += [
            "",
            "## Sizing",
            "",
            f"From our whole sink pipeline's {basis * 1e6:.0f} µs of CPU per row measured here, times an allowance of "
            f"{curve.SIZING_STREAMING_ALLOWANCE:g} for what this batch measurement leaves out (reading and "
            f"acknowledging Pub/Sub, Dataflow's per-bundle streaming work; not measured), on "
            f"{curve.SIZING_MACHINE} workers ({curve.SIZING_VCPUS} vCPUs, one vCPU taken as one core of this "
            f"machine) kept at {curve.SIZING_UTILIZATION:.0%} CPU; Bigtable SSD nodes at Google's "
            f"{curve.SIZING_WRITES_PER_NODE:,} row writes/s per node (1 KB rows)"
            + (
                f"; with the rollups, {rollups_per_window * 1e6:.0f} µs of CPU per window (measured above on a "
                "backfill, one user-day per row: the stream's window steps, Window, Totals, ToRows, Global and "
                "CollectRollups, add Beam's per-element work per firing, not measured, which only the allowance "
                f"covers) and two rows written per firing, {curve.SIZING_ROLLUP_FIRINGS_PER_ROW} firings "
                "per row (a user-day's early and on-time firings):"
                if rollups_per_window is not None
                else ":"
            ),
            "",
            curve.sizing(basis, rollups_per_window),
        ]
    return lines


def write_results(path: Path, args, results, curve_lines, latency_result, elapsed: float, revision: str) -> None:
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks`); every ratio compares two contenders measured in the",
        "same run, alternating, and each figure is the median of the rounds. CPU is the benchmark process's own",
        "(all threads, plus waited-for children), not the emulators'. Nothing here is asserted by the tests.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}, commit {revision}",
        f"- machine: {machine()}",
        f"- command: `python -m benchmarks {' '.join(sys.argv[1:])}`".rstrip() + f" ({elapsed / 60:.1f} min)",
        f"- sizes: {args.rows:,} rows (sink, backfill, transform), {args.messages:,} messages (publish), "
        f"{args.rounds} rounds",
        "",
        table(results),
        "",
        "Columns: rows/s is rows (or messages) per wall-clock second; CPU-s/10k is CPU-seconds per 10,000 rows;",
        "speed ratio = ours rows/s ÷ baseline rows/s; CPU ratio = baseline CPU per row ÷ ours; ours / floor is ours",
        "rows/s as a share of the floor's: the same pipeline with a no-op write (sink, backfill) or requests built",
        "before the clock starts (publish), which no implementation of the compared part can beat. The write-stage",
        "line is each sink's pipeline minus that floor.",
        "",
        "## Goals",
        "",
        *goals_met(results),
        *curve_lines,
    ]
    if latency_result:
        lines += [
            "",
            "## Streaming latency (local direct runner)",
            "",
            f"{latency_result['messages']} messages at {latency_result['rate']:.0f}/s: publish -> row in Bigtable "
            f"p50 **{latency_result['p50']:.2f} s**, p95 **{latency_result['p95']:.2f} s**, "
            f"p99 **{latency_result['p99']:.2f} s** (rows polled every {latency.POLL_SECONDS} s: upper bounds).",
            f"At full speed the local job sustained **{latency_result['burst_rows_per_second']:.0f} rows/s** "
            f"({latency_result['burst']} messages): the Python direct runner's cap (it pulls 10 messages at a "
            "time), not the pipeline's; Dataflow's runner reads Pub/Sub in parallel on every worker.",
        ]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows for sink, backfill, transform (100,000)")
    parser.add_argument(
        "--big",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the cost curve's points at ten times --rows (1,000,000: ~3 of the ~10 minutes); --no-big leaves them out",
    )
    parser.add_argument("--messages", type=int, default=100_000, help="messages for the publish benchmark")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported (3)")
    parser.add_argument("--latency-rate", type=float, default=50.0)
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=2000, help="messages of the full-speed latency phase")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only these (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--log-dir", type=Path, default=ROOT / ".local" / "logs" / "bench")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.rows < 1 or args.messages < 1:
        parser.error("--rounds, --rows and --messages must be at least 1")
    chosen = args.only or list(BENCHMARKS)
    warnings.filterwarnings("ignore", message="Connecting to Bigtable emulator")
    args.log_dir.mkdir(parents=True, exist_ok=True)
    started, revision = time.monotonic(), commit()  # the code measured is the code at the start
    results: list[Result] = []
    points: list[curve.Point] = []
    latency_result: dict[str, float] | None = None
    extra_sections: list[str] = []
    rollups_per_window: float | None = None
    sizes = curve_sizes(args)
    with stack.running(args.log_dir, PROJECT) as emulators, tempfile.TemporaryDirectory() as scratch:
        os.environ.update(emulators.environment())
        own_emulator = bool(emulators.processes)  # started for this run, not reused from the environment
        print(f"emulators: Pub/Sub {emulators.pubsub_host}, Bigtable {emulators.bigtable_host}")
        work_dir = Path(scratch)
        if "transform" in chosen:
            results += transform.run(args.rows, args.rounds)
        if "sink" in chosen:
            curve.drop_tables(own_emulator)
            found, sink_points = sink.run(
                sizes, args.rows, args.rounds, work_dir, create_topic("bench-sink-dead-letters")
            )
            results, points = results + found, points + sink_points
        if "backfill" in chosen:
            curve.drop_tables(own_emulator)
            dead_letters = create_topic("bench-backfill-dead-letters")
            found, backfill_points = backfill.run(sizes, args.rows, args.rounds, work_dir, dead_letters)
            results, points = results + found, points + backfill_points
        if "rollups" in chosen:
            curve.drop_tables(own_emulator)
            dead_letters = create_topic("bench-rollups-dead-letters")
            found, rollups_lines, rollups_per_window = rollups.run(args.rows, args.rounds, work_dir, dead_letters)
            results, extra_sections = results + found, extra_sections + rollups_lines
        if "publish" in chosen:
            results += publish.run(args.messages, args.rounds, create_topic("bench-publish"))
        if "latency" in chosen:
            latency_result = latency.run(args.latency_rate, args.latency_seconds, args.burst, args.log_dir)
    elapsed = time.monotonic() - started
    print()
    print(table(results))
    print("\n".join(["", *goals_met(results)]))
    chart = curve.plot(points, args.out.with_name("curve.svg")) if points else None
    section = extra_sections + curve_section(args, points, results, chart, rollups_per_window)
    print("\n".join(section))
    write_results(args.out, args, results, section, latency_result, elapsed, revision)
    print(f"\nwritten to {args.out} ({elapsed / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
