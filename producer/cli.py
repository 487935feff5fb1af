"""``python -m producer``: options (each also an environment variable), the loop, the summary.

Exit codes: 0 all published; 1 some messages failed to publish; 2 bad options (numbers are
range-checked: no nan, no inf), unusable input (missing file, unknown header, bad topic) or no
credentials; 3 Pub/Sub unreachable or the topic missing. Errors are one line, input quoted as a
bounded, escaped excerpt.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from producer.breaking import Breaker
from producer.pacing import Pacer
from producer.stats import Stats
from transactions.cli_errors import (
    ArgumentParser,
    check_names,
    finite_number,
    pubsub_existence_problem,
    run_against_google,
)
from transactions.excerpt import excerpt, path_line
from transactions.kaggle import BadRow, SaleRow, UnusableInput, count_data_lines, read_rows
from transactions.messages import Message, replay_transaction_id, to_message
from transactions_wire import clients

DEFAULT_CSV = Path(__file__).resolve().parent.parent / "data" / "sample_transactions.csv"
"""The synthetic sample: next to the package in a checkout, and in the producer image."""
LOOP_CACHE_BYTES = 64 * 1024 * 1024
"""Files up to this size are parsed once per ``--loop`` run (a few hundred MB of rows at most)."""
RUN_ID_FORM = re.compile(r"[A-Za-z0-9._-]{1,40}")
MAX_RATE = 1_000_000.0
_LOG = logging.getLogger("producer")


OPTIONS = (  # flag, type (bool = a switch), default, help; each also PRODUCER_<FLAG> in the environment
    ("--csv", Path, DEFAULT_CSV, "CSV in the Kaggle format (default: the sample in data/)"),
    ("--topic", str, None, "projects/<project>/topics/<topic> (required unless --dry-run)"),
    ("--rate", finite_number(0, MAX_RATE), 100.0, "messages per second; 0 = as fast as possible (default 100)"),
    ("--limit", finite_number(0, 10**12, int), 0, "stop after N messages (default: the whole file, once)"),
    ("--loop", bool, False, "start over at the end of the file, with new transaction ids"),
    ("--start-line", finite_number(2, 10**12, int), 2, "first CSV line to send (line 1 is the header; default 2)"),
    ("--run-id", str, None, "part of every transaction id (default: the start time, e.g. r20260101T120000)"),
    ("--dry-run", bool, False, "print the JSON messages to stdout, publish nothing"),
    ("--report-every", finite_number(0.1, 86_400), 10.0, "seconds between report lines (default 10)"),
    ("--invalid-share", finite_number(0, 1), 0.0, "fraction of messages deliberately broken (0-1)"),
    ("--strict", bool, False, "stop at the first bad CSV row"),
    ("--batch-size", finite_number(1, 1000, int), 1000, "messages per publish request (max 1000)"),
    (
        "--retry-seconds",
        finite_number(1, 86_400),
        120.0,
        "how long a batch retries a failing Pub/Sub before the producer stops, naming the line to resume at (120)",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m producer",
        description="Replay the e-commerce CSV into Pub/Sub as contract-v1 messages. "
        "Every option can also be set as PRODUCER_<OPTION> (e.g. PRODUCER_TOPIC, PRODUCER_RATE).",
    )
    for flag, kind, default, help_text in OPTIONS:
        variable = "PRODUCER_" + flag[2:].replace("-", "_").upper()
        from_env = os.environ.get(variable)
        if kind is bool:
            switched_on = (from_env or "").lower() in {"1", "true", "yes", "on"}
            parser.add_argument(flag, action="store_true", default=switched_on or default, help=help_text)
        else:  # argparse converts a string default with ``type``, so a bad variable is a clean error
            parser.add_argument(flag, type=kind, default=from_env if from_env is not None else default, help=help_text)
    return parser


@dataclass(frozen=True)
class ReplaySource:
    """What a replay reads and how it turns rows into messages, built once from the options."""

    csv: Path
    run_id: str
    start_line: int = 2
    loop: bool = False
    invalid_share: float = 0.0
    strict: bool = False

    @classmethod
    def from_options(cls, args: argparse.Namespace) -> ReplaySource:
        return cls(
            csv=args.csv,
            run_id=args.run_id,
            start_line=args.start_line,
            loop=args.loop,
            invalid_share=args.invalid_share,
            strict=args.strict,
        )


class Replay:
    """One replay of the CSV: reading, breaking and counting the messages it yields."""

    def __init__(self, source: ReplaySource) -> None:
        self.source = source
        self.stop = threading.Event()
        self.skipped = 0
        self.broken = 0
        self.sent = 0
        self.next_line = source.start_line
        self.started = time.monotonic()
        self._parsed: list[SaleRow | BadRow] | None = None

    def _rows(self, start_line: int) -> Iterator[SaleRow | BadRow]:
        """The file's rows from ``start_line``. A load test (``--loop``) goes over a file many
        times: a whole pass over a file of at most ``LOOP_CACHE_BYTES`` is kept, parsed, and the
        next passes go over that instead of reading and parsing the file again."""
        if self._parsed is not None:
            yield from self._parsed
            return
        keep = self.source.loop and start_line == 2 and self.source.csv.stat().st_size <= LOOP_CACHE_BYTES
        kept: list[SaleRow | BadRow] = []
        for item in read_rows(self.source.csv, start_line):
            if keep:
                kept.append(item)
            yield item
        if keep:
            self._parsed = kept

    def messages(self) -> Iterator[Message]:
        args = self.source
        breaker = Breaker(args.invalid_share, args.run_id)
        where = path_line(args.csv)
        loop_pass = 0
        start_line = args.start_line
        while not self.stop.is_set():
            produced_any = False
            for item in self._rows(start_line):
                if self.stop.is_set():
                    return
                if isinstance(item, BadRow):
                    self.skipped += 1
                    if args.strict:
                        raise UnusableInput(f"{where}:{item.position}: {item.problem}")
                    _LOG.warning("skipped %s line %d: %s", where, item.position, item.problem)
                    continue
                produced_any = True
                message = breaker.maybe_break(
                    to_message(item, replay_transaction_id(args.run_id, loop_pass, item.position))
                )
                if message.broken:
                    self.broken += 1
                    _LOG.info("deliberately broken (%s): %s", message.broken, message.transaction_id)
                self.next_line = item.position + 1
                yield message
            if not args.loop or not produced_any:
                return
            loop_pass += 1
            start_line = 2


def _report_line(replay: Replay, stats: Stats | None, total: int | None) -> str:
    elapsed = max(1e-9, time.monotonic() - replay.started)
    published = stats.published if stats else replay.sent
    p50 = stats.percentile(0.5) if stats else None
    p99 = stats.percentile(0.99) if stats else None
    latency = f" p50={p50 * 1000:.0f}ms p99={p99 * 1000:.0f}ms" if p50 is not None and p99 is not None else ""
    progress = f" {100 * replay.sent / total:5.1f}%" if total else ""
    failed = stats.failed if stats else 0
    return (
        f"published={published} failed={failed} skipped={replay.skipped} broken={replay.broken}"
        f" rate={published / elapsed:.0f}/s{latency}{progress}"
    )


def run(args: argparse.Namespace) -> int:
    replay = Replay(ReplaySource.from_options(args))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: replay.stop.set())
    publisher = None
    if not args.dry_run:
        from producer.publisher import BatchPublisher

        publisher = BatchPublisher(args.topic, batch_size=args.batch_size, retry_seconds=args.retry_seconds)
    stats = publisher.stats if publisher else None
    total = args.limit or (None if args.loop else max(0, count_data_lines(args.csv) - (args.start_line - 2)))
    interactive = sys.stderr.isatty()
    pacer = Pacer(args.rate)
    paced = args.rate > 0
    last_report = time.monotonic()
    out = sys.stdout.buffer
    try:
        source = replay.messages()
        for message in source:
            while paced and not pacer.due(1):
                if publisher:
                    publisher.poll()
                pacer.wait()
                if replay.stop.is_set():
                    break
            if replay.stop.is_set():
                break
            if publisher:
                publisher.add(message, replay.next_line - 1)
                if publisher.failing.is_set():  # a batch failed after its retries: stop, and say where to resume
                    break
            else:
                out.write(message.data + b"\n")
            replay.sent += 1
            if args.limit and replay.sent >= args.limit:
                break
            if not paced and replay.sent & 63:
                continue  # at full speed, the clock is read every 64 messages, not each one
            now = time.monotonic()
            if now - last_report >= (0.5 if interactive else args.report_every):
                line = _report_line(replay, stats, total)
                print(
                    ("\r" + line) if interactive else line,
                    file=sys.stderr,
                    end="" if interactive else "\n",
                    flush=True,
                )
                last_report = now
    except UnusableInput as error:
        replay.stop.set()
        if publisher:
            publisher.close()
        print(f"{chr(10) if interactive else ''}error: {error}", file=sys.stderr)
        return 2
    if publisher:
        publisher.close()
    out.flush()
    elapsed = time.monotonic() - replay.started
    summary = _report_line(replay, stats, None)
    stopped = " (stopped by signal)" if replay.stop.is_set() else ""
    resume_line = publisher.first_failed_line if publisher else None
    if resume_line is not None:
        stopped = " (stopped: Pub/Sub kept failing)"
    print(
        f"{chr(10) if interactive else ''}summary{stopped}: {summary} elapsed={elapsed:.2f}s "
        f"next_line={replay.next_line if resume_line is None else resume_line} run_id={args.run_id}",
        file=sys.stderr,
        flush=True,
    )
    if resume_line is not None:
        command = resume_command(args.argv, resume_line, args.run_id)
        print(
            f"every line before {resume_line} is published; resume with the same run id (the same "
            f"transaction ids: lines sent twice rewrite the same rows): {command}",
            file=sys.stderr,
            flush=True,
        )
    return 1 if stats and stats.failed else 0


def resume_command(argv: list[str], line: int, run_id: str) -> str:
    """``python -m producer`` with the options given, but ``--start-line line --run-id run_id``."""
    kept: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word in ("--start-line", "--run-id"):
            skip = True
            continue
        if word.startswith(("--start-line=", "--run-id=")):
            continue
        kept.append(word)
    return shlex.join(["python", "-m", "producer", *kept, "--start-line", str(line), "--run-id", run_id])


def check_topic(topic: str) -> str | None:
    """None if the topic is there, else a one-line reason (exit code 3)."""
    with clients.pubsub_publisher() as client:
        return pubsub_existence_problem(
            f"topic {topic}",
            lambda: client.get_topic(topic=topic, retry=None, timeout=10),
            if_missing=" (create it with transacoes-provision)",
        )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    check_names(parser, args, (("topic", "topic"),), may_be_empty=("topic",))
    problems = []
    if not args.dry_run and not args.topic:
        problems.append("--topic is required (projects/<project>/topics/<topic>), or use --dry-run")
    args.run_id = args.run_id or datetime.now(UTC).strftime("r%Y%m%dT%H%M%S")
    if not RUN_ID_FORM.fullmatch(args.run_id):
        problems.append(f"--run-id: {excerpt(args.run_id)} is not 1-40 characters of [A-Za-z0-9._-]")
    if not args.csv.is_file():
        problems.append(f"--csv: {path_line(args.csv)}: no such file")
    if problems:
        print(f"error: {'; '.join(problems)}", file=sys.stderr)
        return 2
    return run_against_google(lambda: _check_then_run(args), "Pub/Sub", 3)


def _check_then_run(args: argparse.Namespace) -> int:
    if not args.dry_run:
        unreachable = check_topic(args.topic)
        if unreachable:
            print(f"error: {unreachable}", file=sys.stderr)
            return 3
    return run(args)
