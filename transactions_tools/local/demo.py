"""``make demo``: the whole system on the local emulators, end to end, in one command.

Uses the stack that ``make up`` left running, or starts one (emulators, topics, subscriptions,
table, and the streaming job in the background); replays the sample CSV through the producer
with a small share of deliberately broken messages, shows live progress, waits until every
published message is accounted for (rows written + dead letters = published), prints a summary
and the latest transactions of one user, and stops everything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from producer.cli import DEFAULT_CSV
from transactions import rollup_layout
from transactions.cli_errors import ArgumentParser, finite_number
from transactions_tools import defaults, provision
from transactions_tools.local import processes
from transactions_tools.local import stack as local_stack
from transactions_tools.local.commands import local_resources, producer_command
from transactions_tools.local.emulators import StackError
from transactions_tools.local.observer import Observer
from transactions_tools.lookup import (
    ReadableTable,
    format_table,
    latest_category_minutes,
    latest_transactions,
    open_table,
    rollup_columns,
    rollup_windows,
)


class DemoFailed(RuntimeError):
    pass


@contextlib.contextmanager
def _stack(
    args: argparse.Namespace, log_dir: Path, suffix: str
) -> Iterator[tuple[local_stack.Stack, provision.Resources]]:
    """The running ``make up`` stack (with a dead-letter subscription of the demo's own), or a new one."""
    running = None if args.pipeline_arg else local_stack.attached()
    if running is not None:
        print(f"using the stack that make up started (make down stops it); job log: {running.pipeline_log}")
        os.environ.update(running.environment())
        resources = running.resources
        own = provision.Resources(**{**resources.__dict__, "dead_letter_subscription": f"demo-dead-letters-{suffix}"})
        provision.provision(own, log=lambda line: print(f"  {line}"))
        print(f"emulators: Pub/Sub {running.emulators.pubsub_host}, Bigtable {running.emulators.bigtable_host}")
        yield running, own
        return
    resources = local_resources(suffix)
    try:
        with local_stack.running(log_dir, resources, args.pipeline_arg, args.pipeline_warmup) as started:
            print(f"pipeline started (log: {started.pipeline_log})")
            yield started, resources
    except StackError as error:
        raise DemoFailed(str(error)) from None


def run_demo(args: argparse.Namespace) -> int:
    log_dir = args.log_dir.resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    started_ms = int(time.time() * 1000)
    suffix = time.strftime("%H%M%S")
    run_id = f"demo{suffix}"
    with _stack(args, log_dir, suffix) as (stack, resources):
        env = {**os.environ, **stack.environment()}
        observer = Observer(resources, transaction_prefix=f"{run_id}:")  # this run's rows only
        producer = None
        try:
            producer_args = [
                "--csv",
                str(args.csv),
                "--rate",
                str(args.rate),
                "--invalid-share",
                str(args.invalid_share),
                "--run-id",
                run_id,
                "--report-every",
                "1",
            ]
            if args.limit:
                producer_args += ["--limit", str(args.limit)]
            producer = processes.spawn(
                producer_command(resources.topic_path(resources.topic), *producer_args),
                log_dir / "producer.log",
                env,
                append=False,
            )
            published = _follow(stack, producer, observer, log_dir, args.timeout)
        finally:
            processes.stop([producer], grace_seconds=15)
        elapsed = time.monotonic() - started
        _summary(observer, published, elapsed, log_dir)
        user = observer.busiest_user()
        print(f"\nlatest 5 transactions of user {user} (prefix scan on '{user}#', newest first):")
        with open_table(defaults.PROJECT, defaults.INSTANCE, resources.table) as table:
            print(format_table(latest_transactions(table, user, 5)))
        emulator = f"BIGTABLE_EMULATOR_HOST={stack.emulators.bigtable_host}"
        cbt = f"{emulator} cbt -project {defaults.PROJECT} -instance {defaults.INSTANCE}"
        print(f"\nsame with cbt: {cbt} read {resources.table} prefix='{user}#' count=5")
        if resources.rollups_table:
            _rollups(resources, observer, user, started_ms, cbt)
        observer.close()
    return 0


ROLLUP_SETTLE_SECONDS = 75.0
"""How long the demo waits for the rollups to take in its last rows.

Early firings come 10 s after a window's first sale, but the local runner has one thread, and
once the stream goes quiet that thread sits in a Pub/Sub pull for up to 30 s before it fires
any timer. So the last totals land 10 to 40 s after the last message; on Dataflow, within 10 s.
"""


def _rollups(resources: provision.Resources, observer: Observer, user: str, started_ms: int, cbt: str) -> None:
    """The live rollups of the run: the last minutes per category, and the busiest user's days."""
    with open_table(defaults.PROJECT, defaults.INSTANCE, resources.rollups_table) as table:
        _show_rollups(table, resources, observer, user, started_ms, cbt)


def _show_rollups(
    table: ReadableTable, resources: provision.Resources, observer: Observer, user: str, started_ms: int, cbt: str
) -> None:
    first_minute = started_ms - started_ms % 60_000
    print(f"\nwaiting up to {ROLLUP_SETTLE_SECONDS:.0f}s for the rollups to count this run's rows")
    print("(the local runner fires timers late once the stream is quiet: see docs/rollups.md)", flush=True)
    deadline, counted = time.monotonic() + ROLLUP_SETTLE_SECONDS, -1
    while time.monotonic() < deadline:  # until the totals hold this run's rows and stop changing
        now_ms = int(time.time() * 1000)
        minutes = (now_ms - first_minute) // 60_000 + 1  # the minutes the run spans
        category_minutes = latest_category_minutes(table, minutes, now_ms)
        total = sum(int(r["count"]) for r in category_minutes if int(r["start_ms"]) >= first_minute)
        if total >= observer.written and total == counted:
            break
        counted = total
        time.sleep(5)
    day = rollup_layout.USER_DAY
    print(f"\nlive rollups in {resources.rollups_table} (event time, UTC; early totals every 10 s, then final)")
    print(format_table(category_minutes[:24], rollup_columns(rollup_layout.CATEGORY_MINUTE)))
    print(f"  {counted} transactions counted in the run's minutes (this run wrote {observer.written} rows)")
    print()
    print(format_table(rollup_windows(table, day, user, 2, int(time.time() * 1000)), rollup_columns(day)))
    totals = "cells-per-column=1 columns=agg:count,agg:revenue,agg:spend"
    print(f"same with cbt: {cbt} read {resources.rollups_table} prefix='category#' {totals}")
    print(f"               {cbt} read {resources.rollups_table} prefix='user#{user}#' {totals}")


def _follow(
    stack: local_stack.Stack, producer: subprocess.Popen[bytes], observer: Observer, log_dir: Path, timeout: float
) -> int:
    deadline = time.monotonic() + timeout
    published = None
    last_line = 0.0
    pipeline = stack.pipeline
    while time.monotonic() < deadline:
        if pipeline is not None and pipeline.poll() is not None:
            raise DemoFailed(
                f"the pipeline died (exit {pipeline.returncode}); its last lines:\n"
                + (local_stack.tail(stack.pipeline_log) if stack.pipeline_log else "(no log)")
            )
        observer.poll()
        producer_log = (log_dir / "producer.log").read_text(errors="replace")
        counts = re.findall(r"published=(\d+) failed=(\d+)", producer_log)
        sent = int(counts[-1][0]) if counts else 0
        if producer.poll() is not None and published is None:
            if producer.returncode != 0:
                raise DemoFailed(
                    f"the producer failed (exit {producer.returncode}):\n{local_stack.tail(log_dir / 'producer.log')}"
                )
            published = sent
        progress = f"  published {sent:>5}  written {observer.written:>5}  dead-lettered {observer.dead_lettered:>4}"
        if sys.stdout.isatty():
            print("\r" + progress, end="", flush=True)
        elif time.monotonic() - last_line >= 5:
            print(progress, flush=True)
            last_line = time.monotonic()
        if published is not None and observer.written + observer.dead_lettered >= published:
            print()
            return published
        time.sleep(1)
    print()
    raise DemoFailed(
        f"timed out after {timeout:.0f}s: published {published}, written {observer.written}, "
        f"dead-lettered {observer.dead_lettered}; logs in {log_dir}"
    )


def _summary(observer: Observer, published: int, elapsed: float, log_dir: Path) -> None:
    latencies = sorted(observer.latencies)
    p50 = statistics.median(latencies) if latencies else 0.0
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
    accounted = observer.written + observer.dead_lettered
    print("\nsummary")
    print(f"  published       {published}")
    print(f"  written         {observer.written} rows")
    print(f"  dead-lettered   {observer.dead_lettered}  {dict(sorted(observer.dead_letters.items()))} (stage/reason)")
    print(f"  accounted for   {accounted} of {published} ({'OK' if accounted == published else 'MISMATCH'})")
    print(f"  elapsed         {elapsed:.1f}s (set-up included); {accounted / max(elapsed, 1e-9):.0f} messages/s")
    print(
        f"  freshness       event time -> row seen in Bigtable: p50 {p50:.2f}s, p95 {p95:.2f}s "
        "(the dashboard's write_freshness_ms; rows polled every second, and the local runner pulls 10 at a time)"
    )
    print(f"  logs            {log_dir}")
    if accounted != published:
        raise DemoFailed("not every published message was accounted for")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m transactions_tools.local.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--log-dir", type=Path, default=Path(".local/logs"))
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument(
        "--rate",
        type=finite_number(0, 100_000),
        default=60.0,
        help="messages per second (default 60: the sample in ~1 minute)",
    )
    parser.add_argument("--limit", type=finite_number(0, 10**9, int), default=0)
    parser.add_argument("--invalid-share", type=finite_number(0, 1), default=0.02)
    parser.add_argument("--timeout", type=finite_number(1, 86_400), default=150.0)
    parser.add_argument("--pipeline-warmup", type=finite_number(0, 600), default=local_stack.PIPELINE_WARMUP_SECONDS)
    parser.add_argument(
        "--pipeline-arg",
        action="append",
        default=[],
        help="extra pipeline option (repeatable; the demo then starts a job of its own)",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Connecting to Bigtable emulator")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run_demo(args)
    except (StackError, DemoFailed) as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; stopped everything the demo started", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
