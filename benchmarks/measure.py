"""Timing and CPU accounting, alternation of contenders, medians, and the results table."""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple


@dataclass(frozen=True)
class Sample:
    """One run: how many rows, how long (wall), how much CPU it cost, and its peak memory.

    ``peak_rss_mib`` is known only for a run in a process of its own (0 otherwise): the peak
    resident set of the process that ran the pipeline (with worker processes, the runner's).
    """

    rows: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float = 0.0

    @property
    def measurable(self) -> bool:
        """False for a difference of two runs lost in noise (tiny smoke-test sizes)."""
        return self.seconds > 0 and self.cpu_seconds > 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")

    @property
    def cpu_per_10k(self) -> float:
        return self.cpu_seconds / self.rows * 10_000 if self.rows else float("nan")


def _cpu_now() -> float:
    """CPU of this process (all threads) and of its finished children, in seconds."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def measure(work: Callable[[], int | Sample]) -> Sample:
    """Run ``work`` and time it, wall and CPU.

    ``work`` returns how many rows it handled, or a :class:`Sample` it measured itself (a
    subprocess that leaves out its interpreter start-up), which is then taken as it is.
    CPU counts this process and any child it waited for.
    """
    gc.collect()
    cpu = _cpu_now()
    start = time.perf_counter()
    rows = work()
    seconds = time.perf_counter() - start
    if isinstance(rows, Sample):
        return rows
    return Sample(rows, seconds, _cpu_now() - cpu)


def marginal(larger: Sample, smaller: Sample) -> Sample:
    """What the rows between two runs of different sizes cost: the slope, without fixed costs."""
    return Sample(
        larger.rows - smaller.rows, larger.seconds - smaller.seconds, larger.cpu_seconds - smaller.cpu_seconds
    )


def median(samples: list[Sample]) -> Sample:
    """The median of each measure (rows must agree: same data in every round)."""
    rows = {s.rows for s in samples}
    if len(rows) != 1:
        raise AssertionError(f"rounds handled different row counts: {sorted(rows)}")
    return Sample(
        rows.pop(),
        statistics.median(s.seconds for s in samples),
        statistics.median(s.cpu_seconds for s in samples),
        statistics.median(s.peak_rss_mib for s in samples),
    )


def _peak_rss_mib() -> float:
    """This process's peak resident set (``VmHWM``), in MiB.

    Not ``getrusage``: on Linux its ``ru_maxrss`` survives ``fork`` and ``exec``, so a child
    would report the benchmark parent's peak whenever that is the larger.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def report_from_child(work: Callable[[], int], **extra) -> None:
    """In a benchmark's child process: run ``work`` and print its :class:`Sample` as JSON.

    Imports and set-up before the call are not timed. ``extra`` is printed along: JSON-able
    values, or callables asked after the work (what the run found out).
    """
    gc.collect()
    cpu, start = _cpu_now(), time.perf_counter()
    rows = work()
    seconds, cpu_seconds = time.perf_counter() - start, _cpu_now() - cpu
    sample = {"rows": rows, "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mib": _peak_rss_mib()}
    found = {name: value() if callable(value) else value for name, value in extra.items()}
    print(json.dumps({**sample, **found}))


def run_child(module: str, *args: str, timeout: float = 1800) -> tuple[Sample, dict]:
    """Run ``python -m module args`` (which ends with :func:`report_from_child`); its sample and extras."""
    command = [sys.executable, "-m", module, *args]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[2:])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    fields = ("rows", "seconds", "cpu_seconds", "peak_rss_mib")
    return Sample(*(found.pop(name) for name in fields)), found


class Contender(NamedTuple):
    """What is measured (returns rows handled), and what must happen before it, unmeasured."""

    work: Callable[[], int | Sample]
    setup: Callable[[], None] = lambda: None


def alternate(contenders: dict[str, Contender], rounds: int, log=print) -> dict[str, Sample]:
    """Run every contender once per round, in turn (A B A B ...); return each one's median."""
    samples: dict[str, list[Sample]] = {name: [] for name in contenders}
    for round_number in range(1, rounds + 1):
        for name, contender in contenders.items():
            contender.setup()
            sample = measure(contender.work)
            samples[name].append(sample)
            log(
                f"  round {round_number}/{rounds} {name:<28} {sample.rows:>7} rows {sample.seconds:7.2f}s "
                f"{sample.rows_per_second:>9,.0f}/s cpu {sample.cpu_seconds:6.2f}s"
            )
    return {name: median(found) for name, found in samples.items()}


class Goal(NamedTuple):
    """What an issue asks of a workload, and how to tell from a result whether it is met."""

    text: str
    met: Callable[[Result], bool]


def faster(times: float) -> Goal:
    return Goal(f"≥ {times:g}× rows/s", lambda r: r.speedup >= times)


def cheaper(times: float) -> Goal:
    return Goal(f"≤ 1/{times:g} of the CPU per row", lambda r: r.cpu_ratio >= times)


def costs_at_most(times: float) -> Goal:
    """Ours (the baseline with something added) may use at most ``times`` its CPU per row."""
    return Goal(f"≤ {times:g}× the CPU per row", lambda r: r.cpu_ratio >= 1 / times)


@dataclass
class Result:
    """One line of the table: a workload, its baseline and ours, the goal if there is one, and
    the floor if there is one: the same work with the part being compared taken out (a no-op
    write, pre-built requests), which bounds what any implementation of that part could reach."""

    workload: str
    baseline_name: str
    ours_name: str
    baseline: Sample
    ours: Sample
    goal: Goal | None = None
    floor: Sample | None = None

    def verdict(self) -> str | None:
        """``- workload: goal: met (...)`` or None when the line has no goal."""
        if self.goal is None:
            return None
        if not (self.baseline.measurable and self.ours.measurable):
            return f"- {self.workload}: {self.goal.text}: not measurable at this size (lost in noise)"
        met = "met" if self.goal.met(self) else "NOT met"
        floor = f"; {self.of_floor:.0%} of the floor's rows/s" if self.floor else ""
        cpu = (
            f"{self.cpu_ratio:.1f}× less CPU per row"
            if self.cpu_ratio >= 1
            else (f"{1 / self.cpu_ratio:.2f}× the CPU per row")
        )
        return f"- {self.workload}: {self.goal.text}: **{met}** ({self.speedup:.2f}× rows/s, {cpu}{floor})"

    @property
    def of_floor(self) -> float:
        """Ours rows/s as a share of the floor's: 1.0 would mean the compared part costs nothing."""
        if self.floor is None:
            raise ValueError(f"{self.workload}: no floor was measured")
        return self.ours.rows_per_second / self.floor.rows_per_second

    @property
    def speedup(self) -> float:
        return self.ours.rows_per_second / self.baseline.rows_per_second

    @property
    def cpu_ratio(self) -> float:
        """Baseline CPU per row / ours: how many times cheaper ours is."""
        return self.baseline.cpu_per_10k / self.ours.cpu_per_10k


HEADER = (
    "workload",
    "baseline",
    "ours",
    "rows/s baseline",
    "rows/s ours",
    "CPU-s/10k baseline",
    "CPU-s/10k ours",
    "speed ratio",
    "CPU ratio",
    "ours / floor rows/s",
    "goal",
)


def table(results: list[Result]) -> str:
    """The results as a Markdown table (readable as plain text too)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for r in results:
        if r.baseline.measurable and r.ours.measurable:
            figures = (
                f"{r.baseline.rows_per_second:,.0f}",
                f"{r.ours.rows_per_second:,.0f}",
                f"{r.baseline.cpu_per_10k:.3f}",
                f"{r.ours.cpu_per_10k:.3f}",
                f"{r.speedup:.1f}×",
                f"{r.cpu_ratio:.1f}×",
            )
        else:
            figures = ("n/a",) * 6
        floor = f"{r.of_floor:.0%}" if r.floor and r.floor.measurable and r.ours.measurable else ""
        cells = (r.workload, r.baseline_name, r.ours_name, *figures, floor, r.goal.text if r.goal else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
