"""``make chaos``: the streaming job against a busy Bigtable, on the local stack, in one command.

Starts the emulators (or uses the ones the environment points at), puts the fault-injecting proxy
(:mod:`transactions_tools.local.fault_proxy`) in front of the Bigtable emulator, starts the
streaming job with its Bigtable clients pointed at the proxy, and replays the sample CSV through
the producer while the proxy misbehaves as a cluster under load does:

- for ``--fault-seconds``: a share of the entries of every ``MutateRows`` call refused with
  UNAVAILABLE and not applied, and response streams cut after half their answers;
- in the middle of that, a few seconds in which every ``MutateRows`` call is refused;
- with ``--read-faults``, the job keeps its live rollups too (a rollups table of its own), and for
  the same time half of the rollups' ``ReadRows`` calls are refused RESOURCE_EXHAUSTED and the
  other read streams are cut after half their rows.

Then it waits until every published message is a row or a dead letter (read from the emulator
itself, not through the proxy), prints what was injected and what was written and dead-lettered,
and stops what it started. With ``--read-faults`` it then waits for the rollups to equal the totals
over the rows the job wrote (:mod:`transactions_tools.local.rollup_audit`). Exit code 0 when every
row was written with no write dead letter, the job is still running and (with ``--read-faults``)
every rollup is exact; 1 otherwise.

    python -m transactions_tools.local.chaos [--messages 600] [--rate 60] [--fault-seconds 20] [--read-faults]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import grpc

from producer.cli import DEFAULT_CSV
from transactions.cli_errors import ArgumentParser, finite_number
from transactions_tools import provision
from transactions_tools.local import emulators as emulator_stack
from transactions_tools.local import processes
from transactions_tools.local.commands import local_resources, producer_command
from transactions_tools.local.emulators import StackError
from transactions_tools.local.fault_proxy import READ_ROWS, Fault, FaultProxy
from transactions_tools.local.observer import Observer
from transactions_tools.local.rollup_audit import mismatched_windows
from transactions_tools.local.stack import start_pipeline, tail

ENTRY_SHARE = 0.3
OUTAGE_SECONDS = 4.0
READ_SHARE = 0.5
ROLLUPS_SETTLE_SECONDS = 90.0
"""How long the rollups may take, after the last row, to catch up (early firings every 10 s)."""


def run(args: argparse.Namespace) -> int:
    log_dir = args.log_dir.resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    suffix = time.strftime("%H%M%S")
    run_id = f"chaos{suffix}"
    with emulator_stack.running(log_dir) as emulators:
        os.environ.update(emulators.environment())
        resources = local_resources(f"chaos-{suffix}")
        if args.read_faults:  # tables of its own: the audit compares the rollups with every row of the table
            own = {"table": f"chaos-{suffix}", "rollups_table": f"chaos-rollups-{suffix}"}
            resources = provision.Resources(**{**resources.__dict__, **own})
        provision.provision(resources, log=lambda line: print(f"  {line}"))
        proxy = FaultProxy(emulators.bigtable_host).start()
        job_env = {**os.environ, **emulators.environment(), "BIGTABLE_EMULATOR_HOST": proxy.address}
        print(f"emulators: Pub/Sub {emulators.pubsub_host}, Bigtable {emulators.bigtable_host}")
        print(f"fault proxy: {proxy.address} -> {emulators.bigtable_host} (the job writes through it)")
        pipeline = producer = None
        try:
            pipeline = start_pipeline(resources, log_dir / "pipeline.log", job_env)
            producer = processes.spawn(
                producer_command(
                    resources.topic_path(resources.topic),
                    *("--csv", str(DEFAULT_CSV), "--rate", str(args.rate), "--limit", str(args.messages)),
                    *("--run-id", run_id, "--report-every", "5", "--loop"),
                ),
                log_dir / "producer.log",
                {**os.environ, **emulators.environment()},
                append=False,
            )
            observer = Observer(resources, transaction_prefix=f"{run_id}:")
            deadline = time.monotonic() + args.fault_seconds + args.timeout
            outage_at = None
            outage_done = False
            while time.monotonic() < deadline:
                if outage_at is None and observer.written:  # the job writes: now misbehave
                    _inject(proxy, args.fault_seconds, args.read_faults, args.fault_seconds + args.timeout)
                    outage_at = time.monotonic() + args.fault_seconds / 2
                if not outage_done and outage_at is not None and time.monotonic() >= outage_at:
                    proxy.inject(Fault("calls", grpc.StatusCode.UNAVAILABLE, share=1.0), OUTAGE_SECONDS)
                    outage_done = True
                if pipeline.poll() is not None:
                    print(f"the job died (exit {pipeline.returncode}):\n{tail(log_dir / 'pipeline.log')}")
                    return 1
                observer.poll()
                done = producer.poll() is not None
                accounted = observer.written + observer.dead_lettered
                print(f"  written {observer.written:>5}  dead-lettered {observer.dead_lettered:>4}", flush=True)
                if done and accounted >= args.messages:
                    break
                time.sleep(1)
            running = pipeline.poll() is None
            audit = _audit_rollups(resources) if args.read_faults and running else None
            return _report(args, proxy, observer, running, audit)
        finally:
            processes.stop([producer, pipeline], grace_seconds=15)
            proxy.stop()


def _inject(proxy: FaultProxy, seconds: float, read_faults: bool, read_seconds: float) -> None:
    """Write faults for ``seconds``; read faults (if asked) for ``read_seconds``: the rollups read when
    their windows fire, which the local runner does late once the stream is quiet."""
    proxy.inject(Fault("entries", grpc.StatusCode.UNAVAILABLE, share=ENTRY_SHARE), seconds)
    proxy.inject(Fault("cut", share=0.5), seconds)
    reads = ""
    if read_faults:
        read = frozenset({READ_ROWS})
        proxy.inject(Fault("calls", grpc.StatusCode.RESOURCE_EXHAUSTED, share=READ_SHARE, methods=read), read_seconds)
        proxy.inject(Fault("cut", share=0.5, methods=read), read_seconds)
        reads = (
            f"{READ_SHARE:.0%} of the rollups' ReadRows refused RESOURCE_EXHAUSTED and the others cut after "
            "half their rows (until the end), "
        )
    print(
        f"the job is writing; injecting for {seconds:g}s: {ENTRY_SHARE:.0%} of the entries of each MutateRows "
        f"refused UNAVAILABLE (not applied), response streams cut after half their answers, {reads}"
        f"and, halfway, {OUTAGE_SECONDS:g}s of whole calls refused UNAVAILABLE",
        flush=True,
    )


def _audit_rollups(resources: provision.Resources) -> tuple[int, list[str]]:
    """Wait (up to ``ROLLUPS_SETTLE_SECONDS``) for the rollups to equal the rows' totals; the last audit."""
    deadline = time.monotonic() + ROLLUPS_SETTLE_SECONDS
    windows, wrong = mismatched_windows(resources)
    while wrong and time.monotonic() < deadline:
        time.sleep(3)
        windows, wrong = mismatched_windows(resources)
    return windows, wrong


def _report(
    args: argparse.Namespace,
    proxy: FaultProxy,
    observer: Observer,
    running: bool,
    audit: tuple[int, list[str]] | None,
) -> int:
    stats = proxy.stats
    print("\ninjected")
    print(f"  entries refused UNAVAILABLE (not applied)   {stats['entries failed UNAVAILABLE']}")
    print(f"  response streams cut                        {stats['streams cut']}")
    print(f"  entries applied but left unanswered         {stats['entries unanswered']}")
    print(f"  whole calls refused UNAVAILABLE             {stats['calls failed UNAVAILABLE']}")
    if args.read_faults:
        print(f"  rollup reads refused RESOURCE_EXHAUSTED     {stats['calls failed RESOURCE_EXHAUSTED']}")
        print(f"  rollup read streams cut                     {stats['read streams cut']}")
    print(f"  calls through the proxy                     {stats['calls']}")
    print("result")
    print(f"  published       {args.messages}")
    print(f"  written         {observer.written} rows")
    writes = {k: v for k, v in observer.dead_letters.items() if k.startswith("write/")}
    print(f"  dead-lettered   {observer.dead_lettered}  {dict(sorted(observer.dead_letters.items()))}")
    print(f"  the job         {'still running' if running else 'NOT RUNNING'}")
    ok = running and not writes and observer.written + observer.dead_lettered == args.messages
    if args.read_faults:
        if audit is None:
            print("  rollups         not audited: the job is not running")
            ok = False
        else:
            windows, wrong = audit
            print(f"  rollups         {windows - len(wrong)} of {windows} windows equal to the rows' totals")
            for line in wrong[:10]:
                print(f"    {line}")
            ok = ok and not wrong
    print(("OK: every valid row written, no write dead letter" if ok else "FAILED") + f"; logs in {args.log_dir}")
    observer.close()
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m transactions_tools.local.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=finite_number(1, 100_000, int), default=600, help="how many (600)")
    parser.add_argument("--rate", type=finite_number(1, 1000), default=60.0, help="messages per second (60)")
    parser.add_argument("--fault-seconds", type=finite_number(1, 600), default=20.0, help="how long (20)")
    parser.add_argument("--timeout", type=finite_number(10, 3600), default=120.0, help="after the faults (120)")
    parser.add_argument(
        "--read-faults",
        action="store_true",
        help="keep the live rollups too, and refuse or cut their Bigtable reads while the faults last",
    )
    parser.add_argument("--log-dir", type=Path, default=Path(".local/logs/chaos"))
    args = parser.parse_args(argv)
    try:
        return run(args)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
