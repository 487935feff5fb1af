"""``transacoes-deadletters``: look at the dead letters, and replay the ones that can be fixed.

(The operator's tool; the dead-letter format itself is contract v1's, :mod:`transactions.dead_letters`.)

    transacoes-deadletters inspect --subscription projects/P/subscriptions/S [--max N] [--json]
    transacoes-deadletters replay --subscription projects/P/subscriptions/S --topic projects/P/topics/T
        [--stage S] [--reason R] [--limit N] [--rate R] [--max-replays 3] [--dry-run]

``inspect`` pulls up to ``--max`` dead letters, prints counts by stage and reason, the oldest and
newest ``failed_at`` and up to three samples of each reason, then hands every message back
unacknowledged (redelivered at once): it consumes nothing.

``replay`` republishes the dead letters that match the filters to the input topic: the data
unchanged, the attributes without the ``error_*`` ones and ``failed_at``, and ``replay_count``
one higher. Each dead letter is acknowledged only after its republish is confirmed; everything
else stays on the subscription: what the filters leave, what is refused (a backfill's CSV line,
which belongs in a fixed file and a new backfill, not on the stream; a rollup total, which is
not a transaction and which the window's next firing rewrites; one replayed ``--max-replays``
times already), and what failed to publish. Replaying a message whose row
exists is harmless: cells are stamped with the event time, so it rewrites the same cells.

Exit codes: 0 done (nothing failed); 1 some republishes failed (they stay on the subscription);
2 bad options or no credentials; 3 Pub/Sub unreachable or failing, or the subscription or topic
missing. Any dead letter is handled: up to Pub/Sub's 10 MB, without attributes, not UTF-8, with a
forged ``replay_count`` (refused, never reset); what a failed command pulled is handed back at
once. Whatever it prints of a dead letter is a bounded, escaped excerpt. Credentials are the
environment's (Application Default Credentials, or ``PUBSUB_EMULATOR_HOST``); retries are the
generated clients' own. Design notes: ``docs/dead-letters.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from transactions import attributes, dead_letters, resource_names
from transactions.cli_errors import ArgumentParser, finite_number, pubsub_existence_problem, run_against_google
from transactions.excerpt import excerpt, message_line, path_line

LEASE_SECONDS = 600
"""How long pulled dead letters are held while the command works (renewed as it goes)."""
SAMPLES_PER_REASON = 3
MAX_MESSAGE_BYTES = 10 * 1000 * 1000
"""Pub/Sub's limit on one message (data and attributes): the largest dead letter there can be."""
PULL_BATCH = 10
"""Messages asked for per pull: even ten of the largest fit in one response under the limit below."""
MAX_PULL_RESPONSE_BYTES = PULL_BATCH * MAX_MESSAGE_BYTES + 16 * 1024 * 1024
"""The receive limit of the emulator's channel: a pull of ``PULL_BATCH`` of the largest messages,
with room for the response's own fields (gRPC's default is 4 MiB; the service's channel, built by
the library, has none)."""
MAX_REPLAY_COUNT_DIGITS = 6


class Unreachable(Exception):
    """Pub/Sub cannot be reached, or the subscription or topic does not exist (exit code 3)."""


@dataclass
class Held:
    """Dead letters pulled and leased by this command, until it acknowledges or hands them back."""

    subscriber: Any
    """A ``SubscriberClient``, or a test's stand-in of one."""
    subscription: str
    messages: list = field(default_factory=list)
    _leased_at: float = 0.0

    def pull(self, at_most: int) -> None:
        seen: set[str] = set()
        while len(self.messages) < at_most:
            response = self.subscriber.pull(
                subscription=self.subscription,
                max_messages=min(PULL_BATCH, at_most - len(self.messages)),
                timeout=3 if self.messages else 10,  # the last, empty pull only says there is no more
            )
            fresh = [m for m in response.received_messages if m.message.message_id not in seen]
            repeats = [m.ack_id for m in response.received_messages if m.message.message_id in seen]
            self.messages += fresh  # held from here on: handed back if anything below fails
            if repeats:
                self.hand_back(repeats)
            if not fresh:
                break
            self._extend([m.ack_id for m in fresh])
            seen.update(m.message.message_id for m in fresh)
        self._leased_at = time.monotonic()

    def renew(self) -> None:
        """Keep the lease of every held message while a long replay works through them."""
        if self.messages and time.monotonic() - self._leased_at > LEASE_SECONDS / 2:
            self._extend([m.ack_id for m in self.messages])
            self._leased_at = time.monotonic()

    def acknowledge(self, ack_ids: list[str]) -> None:
        for start in range(0, len(ack_ids), 1000):
            self.subscriber.acknowledge(subscription=self.subscription, ack_ids=ack_ids[start : start + 1000])

    def hand_back(self, ack_ids: list[str]) -> None:
        """Unacknowledged, at once: redelivered to the next reader, nothing consumed."""
        for start in range(0, len(ack_ids), 1000):
            self.subscriber.modify_ack_deadline(
                subscription=self.subscription, ack_ids=ack_ids[start : start + 1000], ack_deadline_seconds=0
            )

    def _extend(self, ack_ids: list[str]) -> None:
        for start in range(0, len(ack_ids), 1000):
            self.subscriber.modify_ack_deadline(
                subscription=self.subscription,
                ack_ids=ack_ids[start : start + 1000],
                ack_deadline_seconds=LEASE_SECONDS,
            )


def reason_key(message) -> str:
    """:func:`transactions.dead_letters.stage_and_reason` of a pulled message, escaped and bounded:
    a dead letter's attributes are whatever reached the topic."""
    return message_line(dead_letters.stage_and_reason(message.attributes), limit=80)


def source_of(message) -> str | None:
    """``file@offset`` of a backfill line's dead letter (its byte offset); None for a Pub/Sub message's."""
    attrs = message.attributes
    if attributes.SOURCE_FILE not in attrs:
        return None
    return path_line(f"{attrs[attributes.SOURCE_FILE]}@{attrs.get(attributes.SOURCE_OFFSET, '?')}")


def preview(data: bytes) -> str:
    """The start of a dead letter's data, as a bounded, escaped excerpt."""
    return excerpt(data)


def transaction_of(message) -> str:
    return message_line(message.attributes.get(attributes.TRANSACTION_ID, "-"), limit=80)


def summarize(subscription: str, messages: list) -> dict:
    """What ``inspect`` reports, as one JSON-ready document."""
    counts = Counter(reason_key(m.message) for m in messages)
    samples: dict[str, list] = defaultdict(list)
    for received in messages:
        message = received.message
        key = reason_key(message)
        if len(samples[key]) < SAMPLES_PER_REASON:
            samples[key].append(
                {
                    "data": preview(message.data),
                    "detail": message_line(message.attributes.get(attributes.ERROR_DETAIL, ""), limit=1000),
                    "transaction_id": transaction_of(message),
                    "source": source_of(message),
                }
            )
    failed_at = sorted(
        message_line(m.message.attributes[attributes.FAILED_AT], limit=40)
        for m in messages
        if attributes.FAILED_AT in m.message.attributes
    )
    return {
        "subscription": subscription,
        "pulled": len(messages),
        "by_stage_and_reason": dict(counts.most_common()),
        "oldest_failed_at": failed_at[0] if failed_at else None,
        "newest_failed_at": failed_at[-1] if failed_at else None,
        "samples": dict(samples),
    }


def print_summary(summary: dict) -> None:
    print(f"{summary['pulled']} dead letters on {summary['subscription']} (left there, unacknowledged)")
    if not summary["pulled"]:
        return
    print(f"failed between {summary['oldest_failed_at']} and {summary['newest_failed_at']}")
    width = max(len(key) for key in summary["by_stage_and_reason"])
    for key, count in summary["by_stage_and_reason"].items():
        print(f"  {key:<{width}}  {count:>6}")
    for key, samples in summary["samples"].items():
        print(f"\n{key}:")
        for sample in samples:
            where = f"  [{sample['source']}]" if sample["source"] else f"  [transaction {sample['transaction_id']}]"
            print(f"  -{where} {sample['detail']}\n      {sample['data']}")


def inspect(args: argparse.Namespace) -> int:
    held = Held(_subscriber(args.subscription), args.subscription)
    try:
        held.pull(args.max)
        summary = summarize(args.subscription, held.messages)
    finally:
        held.hand_back([m.ack_id for m in held.messages])
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary)
    return 0


def replay_attributes(original: dict[str, str]) -> dict[str, str]:
    """The original attributes without the dead letter's, and one more replay counted."""
    kept = dead_letters.without_dead_letter_attributes(original)
    replays = replays_of(original)
    if replays is None:
        raise ValueError(f"replay_count {excerpt(original[attributes.REPLAY_COUNT])} is not a non-negative integer")
    kept[attributes.REPLAY_COUNT] = str(replays + 1)
    return kept


def replays_of(message_attributes: dict[str, str]) -> int | None:
    """How often a dead letter was replayed already; None if its ``replay_count`` is not a
    non-negative integer (forged or broken: such a message is refused, never reset to 0)."""
    text = message_attributes.get(attributes.REPLAY_COUNT, "0")
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_REPLAY_COUNT_DIGITS):
        return None
    return int(text)


@dataclass(frozen=True)
class ReplayChoice:
    """Which dead letters a replay takes: the operator's filters, built once from the options."""

    stage: str | None = None
    reason: str | None = None
    limit: int = 0
    """At most this many (0: all that match)."""
    max_replays: int = 3

    @classmethod
    def from_options(cls, args: argparse.Namespace) -> ReplayChoice:
        return cls(stage=args.stage, reason=args.reason, limit=args.limit, max_replays=args.max_replays)


@dataclass
class Plan:
    replay: list = field(default_factory=list)
    left: list = field(default_factory=list)
    refused: list[tuple[Any, str]] = field(default_factory=list)


def plan(messages: list, choice: ReplayChoice) -> Plan:
    """Sort the pulled dead letters: to replay, left by the filters, refused (and why)."""
    decided = Plan()
    for received in sorted(messages, key=lambda m: m.message.publish_time):
        attrs = received.message.attributes
        if (choice.stage and attrs.get(attributes.ERROR_STAGE) != choice.stage) or (
            choice.reason and attrs.get(attributes.ERROR_REASON) != choice.reason
        ):
            decided.left.append(received)
            continue
        source = source_of(received.message)
        replays = replays_of(attrs)
        if attrs.get(attributes.ROLLUP):
            decided.refused.append(
                (received, f"a {attrs[attributes.ROLLUP]} total, not a transaction: its next firing rewrites it")
            )
        elif source:
            decided.refused.append((received, f"a CSV line of {source}: fix the file, backfill it"))
        elif replays is None:
            forged = excerpt(attrs[attributes.REPLAY_COUNT])
            decided.refused.append((received, f"replay_count {forged} is not a non-negative integer"))
        elif replays >= choice.max_replays:
            refused = f"replayed {replays} times already (--max-replays {choice.max_replays})"
            decided.refused.append((received, refused))
        elif choice.limit and len(decided.replay) >= choice.limit:
            decided.left.append(received)
        else:
            decided.replay.append(received)
    return decided


def replay(args: argparse.Namespace) -> int:
    from producer.pacing import Pacer

    subscriber = _subscriber(args.subscription)
    publisher = _publisher(args.topic)
    held = Held(subscriber, args.subscription)
    acknowledged: list[str] = []
    failed: list = []
    try:
        held.pull(args.max)
        decided = plan(held.messages, ReplayChoice.from_options(args))
        if not args.dry_run:
            pacer = Pacer(args.rate)
            pending = []
            for received in decided.replay:
                while not pacer.due(1):
                    pacer.wait()
                held.renew()
                message = received.message
                pending.append(
                    (received, publisher.publish(args.topic, message.data, **replay_attributes(message.attributes)))
                )
            for received, future in pending:
                try:
                    future.result(timeout=120)
                except Exception as error:  # every failure is counted and reported; the dead letter stays
                    failed.append((received, f"{type(error).__name__}: {message_line(error)}"))
                    continue
                acknowledged.append(received.ack_id)
            held.acknowledge(acknowledged)
    finally:
        done = set(acknowledged)
        held.hand_back([m.ack_id for m in held.messages if m.ack_id not in done])
    _report(args, held, decided, len(acknowledged), failed)
    return 1 if failed else 0


def _report(args: argparse.Namespace, held: Held, decided: Plan, replayed: int, failed: list) -> None:
    verb = "would replay" if args.dry_run else "replayed"
    print(f"pulled {len(held.messages)} dead letters from {args.subscription}")
    print(f"  {verb:<13} {len(decided.replay) if args.dry_run else replayed:>6}  to {args.topic}")
    print(f"  left          {len(decided.left):>6}  (not matching --stage/--reason, or past --limit)")
    print(f"  refused       {len(decided.refused):>6}")
    print(f"  failed        {len(failed):>6}")
    for received, why in decided.refused:
        print(f"    refused {transaction_of(received.message)}: {why}")
    for received, why in failed:
        print(f"    failed {transaction_of(received.message)}: {why}")
    if len(held.messages) >= args.max:
        print(f"  (pulled --max {args.max}; run again for more)")


def subscriber_client():
    """A Pub/Sub subscriber that can receive the largest dead letter there is.

    On the service, the library's own channel (it sets no receive limit). On the emulator, the
    library opens a plain channel with gRPC's default 4 MiB receive limit, and a 9 MB dead letter
    fails the pull: the same plain channel is opened here, with a limit that fits a pull of
    ``PULL_BATCH`` messages of Pub/Sub's largest size.
    """
    import google.cloud.pubsub_v1 as pubsub_v1

    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if not host:
        return pubsub_v1.SubscriberClient()
    import grpc
    from google.auth.credentials import AnonymousCredentials
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    channel = grpc.insecure_channel(host, options=[("grpc.max_receive_message_length", MAX_PULL_RESPONSE_BYTES)])
    return pubsub_v1.SubscriberClient(
        transport=SubscriberGrpcTransport(channel=channel, credentials=AnonymousCredentials())
    )


def _subscriber(subscription: str):
    subscriber = subscriber_client()
    _must_exist(
        f"subscription {subscription}",
        lambda: subscriber.get_subscription(subscription=subscription, timeout=10, retry=None),
    )
    return subscriber


def _publisher(topic: str):
    import google.cloud.pubsub_v1 as pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    _must_exist(f"topic {topic}", lambda: publisher.get_topic(topic=topic, timeout=10, retry=None))
    return publisher


def _must_exist(what: str, get) -> None:
    """Raise :class:`Unreachable` if ``what`` is missing or Pub/Sub cannot be reached."""
    problem = pubsub_existence_problem(what, get)
    if problem:
        raise Unreachable(problem)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="transacoes-deadletters", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    inspect_parser = commands.add_parser("inspect", help="counts, times and samples; consumes nothing")
    replay_parser = commands.add_parser("replay", help="republish the matching dead letters to the input topic")
    for sub in (inspect_parser, replay_parser):
        sub.add_argument("--subscription", required=True, help="projects/<project>/subscriptions/<dead-letter sub>")
        sub.add_argument(
            "--max", type=finite_number(1, 100_000, int), default=1000, help="pull at most N (1-100000; default 1000)"
        )
    inspect_parser.add_argument("--json", action="store_true", help="one JSON document instead of text")
    replay_parser.add_argument("--topic", required=True, help="projects/<project>/topics/<input topic>")
    replay_parser.add_argument("--stage", choices=dead_letters.STAGES, help="only this stage")
    replay_parser.add_argument("--reason", help="only this reason code (e.g. bigtable_not_found)")
    replay_parser.add_argument(
        "--limit", type=finite_number(0, 100_000, int), default=0, help="replay at most N (default: all that match)"
    )
    replay_parser.add_argument(
        "--rate", type=finite_number(0, 100_000), default=0, help="messages per second (default 0: no pacing)"
    )
    replay_parser.add_argument(
        "--max-replays", type=finite_number(1, 1000, int), default=3, help="refuse one replayed this often (default 3)"
    )
    replay_parser.add_argument("--dry-run", action="store_true", help="say what would be replayed; change nothing")
    return parser


def check_options(args: argparse.Namespace) -> list[str]:
    """What is wrong with the resource names (argparse has checked the numbers' ranges)."""
    problems = []
    if not resource_names.is_valid("subscription", args.subscription):
        problems.append(
            f"--subscription: {excerpt(args.subscription)} is not {resource_names.DESCRIPTIONS['subscription']}"
        )
    if args.command == "replay" and not resource_names.is_valid("topic", args.topic):
        problems.append(f"--topic: {excerpt(args.topic)} is not {resource_names.DESCRIPTIONS['topic']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problems = check_options(args)
    if problems:
        print(f"error: {'; '.join(problems)}", file=sys.stderr)
        return 2
    try:  # on any failure, whatever was pulled has been handed back (deadline 0) on the way out
        return run_against_google(lambda: inspect(args) if args.command == "inspect" else replay(args), "Pub/Sub", 3)
    except Unreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
