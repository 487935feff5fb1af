"""``make demo``: the whole system on the local emulators, end to end, in one command.

Starts (or reuses) the emulators, provisions the topics, subscriptions, table and family,
starts the streaming pipeline in the background, replays the sample CSV through the producer
with a small share of deliberately broken messages, shows live progress, waits until every
published message is accounted for (rows written + dead letters = published), prints a
summary and the latest transactions of one user, and stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

from template.contract import MAX_EVENT_MS
from template.local import emulators as stack
from template.local import processes
from template.provision import Resources, provision

PROJECT = stack.DEFAULT_PROJECT
INSTANCE = "local-instance"
ROOT = Path(__file__).resolve().parents[2]


class DemoFailed(RuntimeError):
    pass


def _tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Observer:
    """What reached Bigtable and the dead-letter topic, and when each row was first seen."""

    def __init__(self, resources: Resources) -> None:
        from google.cloud import bigtable, pubsub_v1

        self.table = bigtable.Client(project=PROJECT, admin=True).instance(INSTANCE).table(resources.table)
        self._subscriber = pubsub_v1.SubscriberClient()
        self._dead_letter_path = resources.subscription_path(resources.dead_letter_subscription)
        self.first_seen: dict[bytes, float] = {}
        self.latencies: list[float] = []
        self.dead_letters: Counter[str] = Counter()

    def poll(self) -> None:
        from google.cloud.bigtable.row_filters import (
            CellsRowLimitFilter,
            RowFilterChain,
            StripValueTransformerFilter,
        )

        now = time.time()
        keys_only = RowFilterChain([CellsRowLimitFilter(1), StripValueTransformerFilter(True)])
        for row in self.table.read_rows(filter_=keys_only):
            if row.row_key not in self.first_seen:
                self.first_seen[row.row_key] = now
                event_ms = MAX_EVENT_MS - int(row.row_key.split(b"#")[1])
                self.latencies.append(now - event_ms / 1000)
        while True:
            response = self._subscriber.pull(subscription=self._dead_letter_path, max_messages=1000, timeout=5,
                                             return_immediately=True)  # fmt: skip
            if not response.received_messages:
                break
            self._subscriber.acknowledge(subscription=self._dead_letter_path,
                                         ack_ids=[m.ack_id for m in response.received_messages])  # fmt: skip
            for message in response.received_messages:
                attrs = message.message.attributes
                self.dead_letters[f"{attrs['error_stage']}/{attrs['error_reason']}"] += 1

    @property
    def written(self) -> int:
        return len(self.first_seen)

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    def busiest_user(self) -> str:
        users = Counter(key.split(b"#")[0].decode() for key in self.first_seen)
        return users.most_common(1)[0][0]


def run_demo(args: argparse.Namespace) -> int:
    log_dir = args.log_dir.resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with stack.running(log_dir, PROJECT) as emulators:
        env = {**os.environ, **emulators.environment()}
        os.environ.update(emulators.environment())
        print(f"emulators: Pub/Sub {emulators.pubsub_host}, Bigtable {emulators.bigtable_host}")
        suffix = time.strftime("%H%M%S")
        resources = Resources(project=PROJECT, instance=INSTANCE, table="transacoes",
                              subscription=f"transacoes-pipeline-{suffix}",
                              dead_letter_subscription=f"transacoes-dead-letter-{suffix}")  # fmt: skip
        provision(resources, log=lambda line: print(f"  {line}"))
        observer = Observer(resources)
        observer.table.truncate(timeout=60)  # a second demo starts empty, so its counts are its own
        pipeline = producer = None
        try:
            pipeline = processes.spawn([sys.executable, str(ROOT / "template" / "main.py"), "--runner=DirectRunner",
                               "--streaming", f"--project={PROJECT}",
                               f"--input_subscription={resources.subscription_path(resources.subscription)}",
                               f"--bigtable_instance={INSTANCE}", f"--bigtable_table={resources.table}",
                               f"--dead_letter_topic={resources.topic_path(resources.dead_letter_topic)}",
                               *args.pipeline_arg],
                              log_dir / "pipeline.log", env, append=False)  # fmt: skip
            time.sleep(args.pipeline_warmup)
            if pipeline.poll() is not None:
                raise DemoFailed(f"the pipeline exited with {pipeline.returncode}:\n{_tail(log_dir / 'pipeline.log')}")
            print(f"pipeline started (log: {log_dir / 'pipeline.log'})")
            producer = processes.spawn([sys.executable, "-m", "producer", "--csv", str(args.csv),
                               "--topic", resources.topic_path(resources.topic), "--rate", str(args.rate),
                               "--invalid-share", str(args.invalid_share), "--run-id", f"demo{suffix}",
                               "--report-every", "1"] + (["--limit", str(args.limit)] if args.limit else []),
                              log_dir / "producer.log", env, append=False)  # fmt: skip
            published = _follow(pipeline, producer, observer, log_dir, args.timeout)
        finally:
            processes.stop([producer, pipeline], grace_seconds=15)
        elapsed = time.monotonic() - started
        _summary(observer, published, elapsed, log_dir)
        user = observer.busiest_user()
        from template.lookup import format_table, latest_transactions

        print(f"\nlatest 5 transactions of user {user} (prefix scan on '{user}#', newest first):")
        print(format_table(latest_transactions(observer.table, user, 5)))
        print(f"\nsame with cbt: BIGTABLE_EMULATOR_HOST={emulators.bigtable_host} cbt -project {PROJECT} "
              f"-instance {INSTANCE} read transacoes prefix='{user}#' count=5")  # fmt: skip
    return 0


def _follow(pipeline, producer, observer: Observer, log_dir: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    published = None
    last_line = 0.0
    while time.monotonic() < deadline:
        if pipeline.poll() is not None:
            raise DemoFailed(
                f"the pipeline died (exit {pipeline.returncode}); its last lines:\n{_tail(log_dir / 'pipeline.log')}"
            )
        observer.poll()
        producer_log = (log_dir / "producer.log").read_text(errors="replace")
        counts = re.findall(r"published=(\d+) failed=(\d+)", producer_log)
        sent = int(counts[-1][0]) if counts else 0
        if producer.poll() is not None and published is None:
            if producer.returncode != 0:
                raise DemoFailed(
                    f"the producer failed (exit {producer.returncode}):\n{_tail(log_dir / 'producer.log')}"
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
    raise DemoFailed(f"timed out after {timeout:.0f}s: published {published}, written {observer.written}, "
                     f"dead-lettered {observer.dead_lettered}; logs in {log_dir}")  # fmt: skip


def _summary(observer: Observer, published: int, elapsed: float, log_dir: Path) -> None:
    latencies = sorted(observer.latencies)
    p50 = statistics.median(latencies) if latencies else 0.0
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
    accounted = observer.written + observer.dead_lettered
    print("\nsummary")
    print(f"  published       {published}")
    print(f"  written         {observer.written} rows")
    print(f"  dead-lettered   {observer.dead_lettered}  {dict(sorted(observer.dead_letters.items()))}")
    print(f"  accounted for   {accounted} of {published} ({'OK' if accounted == published else 'MISMATCH'})")
    print(f"  elapsed         {elapsed:.1f}s (set-up included); {accounted / max(elapsed, 1e-9):.0f} messages/s")
    print(f"  latency         publish -> row seen in Bigtable: p50 {p50:.2f}s, p95 {p95:.2f}s "
          "(polled every second; the local direct runner pulls 10 messages at a time)")  # fmt: skip
    print(f"  logs            {log_dir}")
    if accounted != published:
        raise DemoFailed("not every published message was accounted for")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m template.local.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--log-dir", type=Path, default=Path(".local/logs"))
    parser.add_argument("--csv", type=Path, default=ROOT / "data" / "sample_transactions.csv")
    parser.add_argument(
        "--rate", type=float, default=60.0, help="messages per second (default 60: the sample in ~1 minute)"
    )
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--invalid-share", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=150.0)
    parser.add_argument("--pipeline-warmup", type=float, default=8.0)
    parser.add_argument("--pipeline-arg", action="append", default=[], help="extra pipeline option (repeatable)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Connecting to Bigtable emulator")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run_demo(args)
    except (stack.StackError, DemoFailed) as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; stopped everything the demo started", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
