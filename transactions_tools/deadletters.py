"""``transacoes-deadletters``: look at the dead letters, and replay the ones that can be fixed.

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
2 bad options; 3 Pub/Sub unreachable, or the subscription or topic missing. Credentials are the
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

from transactions import attributes, resource_names

LEASE_SECONDS = 600
"""How long pulled dead letters are held while the command works (renewed as it goes)."""
SAMPLES_PER_REASON = 3
PREVIEW_BYTES = 120


class Unreachable(Exception):
    """Pub/Sub cannot be reached, or the subscription or topic does not exist (exit code 3)."""


@dataclass
class Held:
    """Dead letters pulled and leased by this command, until it acknowledges or hands them back."""

    subscriber: object
    subscription: str
    messages: list = field(default_factory=list)
    _leased_at: float = 0.0

    def pull(self, at_most: int) -> None:
        seen = set()
        while len(self.messages) < at_most:
            response = self.subscriber.pull(
                subscription=self.subscription,
                max_messages=min(1000, at_most - len(self.messages)),
                timeout=3 if self.messages else 10,  # the last, empty pull only says there is no more
            )
            fresh = [m for m in response.received_messages if m.message.message_id not in seen]
            if not fresh:
                break
            self._extend([m.ack_id for m in fresh])
            seen.update(m.message.message_id for m in fresh)
            self.messages += fresh
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


def stage_and_reason(message) -> str:
    attrs = message.attributes
    return f"{attrs.get(attributes.ERROR_STAGE, '?')}/{attrs.get(attributes.ERROR_REASON, '?')}"


def source_of(message) -> str | None:
    """``file@offset`` of a backfill line's dead letter (its byte offset); None for a Pub/Sub message's."""
    attrs = message.attributes
    if attributes.SOURCE_FILE not in attrs:
        return None
    return f"{attrs[attributes.SOURCE_FILE]}@{attrs.get(attributes.SOURCE_OFFSET, '?')}"


def preview(data: bytes) -> str:
    text = data[:PREVIEW_BYTES].decode("utf-8", errors="replace")
    return text + ("..." if len(data) > PREVIEW_BYTES else "")


def summarize(subscription: str, messages: list) -> dict:
    """What ``inspect`` reports, as one JSON-ready document."""
    counts = Counter(stage_and_reason(m.message) for m in messages)
    samples: dict[str, list] = defaultdict(list)
    for received in messages:
        message = received.message
        key = stage_and_reason(message)
        if len(samples[key]) < SAMPLES_PER_REASON:
            samples[key].append(
                {
                    "data": preview(message.data),
                    "detail": message.attributes.get(attributes.ERROR_DETAIL, ""),
                    "transaction_id": message.attributes.get(attributes.TRANSACTION_ID),
                    "source": source_of(message),
                }
            )
    failed_at = sorted(
        m.message.attributes[attributes.FAILED_AT] for m in messages if attributes.FAILED_AT in m.message.attributes
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
    held.pull(args.max)
    try:
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
    kept = {k: v for k, v in original.items() if k not in attributes.DEAD_LETTER_ATTRIBUTES}
    kept[attributes.REPLAY_COUNT] = str(replays_of(original) + 1)
    return kept


def replays_of(message_attributes: dict[str, str]) -> int:
    try:
        return int(message_attributes.get(attributes.REPLAY_COUNT, "0"))
    except ValueError:
        return 0


@dataclass
class Plan:
    replay: list = field(default_factory=list)
    left: list = field(default_factory=list)
    refused: list[tuple[object, str]] = field(default_factory=list)


def plan(messages: list, args: argparse.Namespace) -> Plan:
    """Sort the pulled dead letters: to replay, left by the filters, refused (and why)."""
    decided = Plan()
    for received in sorted(messages, key=lambda m: m.message.publish_time):
        attrs = received.message.attributes
        if (args.stage and attrs.get(attributes.ERROR_STAGE) != args.stage) or (
            args.reason and attrs.get(attributes.ERROR_REASON) != args.reason
        ):
            decided.left.append(received)
        elif attrs.get(attributes.ROLLUP):
            decided.refused.append(
                (received, f"a {attrs[attributes.ROLLUP]} total, not a transaction: its next firing rewrites it")
            )
        elif source_of(received.message):
            decided.refused.append(
                (received, f"a CSV line of {source_of(received.message)}: fix the file, backfill it")
            )
        elif replays_of(attrs) >= args.max_replays:
            refused = f"replayed {replays_of(attrs)} times already (--max-replays {args.max_replays})"
            decided.refused.append((received, refused))
        elif args.limit and len(decided.replay) >= args.limit:
            decided.left.append(received)
        else:
            decided.replay.append(received)
    return decided


def replay(args: argparse.Namespace) -> int:
    from producer.pacing import Pacer

    subscriber = _subscriber(args.subscription)
    publisher = _publisher(args.topic)
    held = Held(subscriber, args.subscription)
    held.pull(args.max)
    decided = plan(held.messages, args)
    acknowledged, failed = [], []
    try:
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
                    failed.append((received, f"{type(error).__name__}: {error}"))
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
        print(f"    refused {received.message.attributes.get(attributes.TRANSACTION_ID, '-')}: {why}")
    for received, why in failed:
        print(f"    failed {received.message.attributes.get(attributes.TRANSACTION_ID, '-')}: {why}")
    if len(held.messages) >= args.max:
        print(f"  (pulled --max {args.max}; run again for more)")


def _where() -> str:
    return os.environ.get("PUBSUB_EMULATOR_HOST", "pubsub.googleapis.com")


def _subscriber(subscription: str):
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    _must_exist(
        f"subscription {subscription}",
        lambda: subscriber.get_subscription(subscription=subscription, timeout=10, retry=None),
    )
    return subscriber


def _publisher(topic: str):
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    _must_exist(f"topic {topic}", lambda: publisher.get_topic(topic=topic, timeout=10, retry=None))
    return publisher


def _must_exist(what: str, get) -> None:
    """Raise :class:`Unreachable` if ``what`` is missing or Pub/Sub cannot be reached.

    PermissionDenied passes: an account allowed to consume or publish may not read metadata;
    the pull or the publish will tell.
    """
    from google.api_core import exceptions as api_exceptions

    try:
        get()
    except api_exceptions.NotFound:
        raise Unreachable(f"{what} does not exist") from None
    except api_exceptions.PermissionDenied:
        pass
    except (api_exceptions.GoogleAPICallError, api_exceptions.RetryError) as error:
        raise Unreachable(f"cannot reach Pub/Sub at {_where()}: {type(error).__name__}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="transacoes-deadletters", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    inspect_parser = commands.add_parser("inspect", help="counts, times and samples; consumes nothing")
    replay_parser = commands.add_parser("replay", help="republish the matching dead letters to the input topic")
    for sub in (inspect_parser, replay_parser):
        sub.add_argument("--subscription", required=True, help="projects/<project>/subscriptions/<dead-letter sub>")
        sub.add_argument("--max", type=int, default=1000, help="pull at most this many dead letters (default 1000)")
    inspect_parser.add_argument("--json", action="store_true", help="one JSON document instead of text")
    replay_parser.add_argument("--topic", required=True, help="projects/<project>/topics/<input topic>")
    replay_parser.add_argument("--stage", choices=("parse", "validate", "write"), help="only this stage")
    replay_parser.add_argument("--reason", help="only this reason code (e.g. bigtable_not_found)")
    replay_parser.add_argument("--limit", type=int, default=0, help="replay at most N (default: all that match)")
    replay_parser.add_argument("--rate", type=float, default=0, help="messages per second (default 0: no pacing)")
    replay_parser.add_argument("--max-replays", type=int, default=3, help="refuse a dead letter replayed this often")
    replay_parser.add_argument("--dry-run", action="store_true", help="say what would be replayed; change nothing")
    return parser


def check_options(args: argparse.Namespace) -> list[str]:
    problems = []
    if not resource_names.is_valid("subscription", args.subscription):
        problems.append(f"--subscription: {args.subscription!r} is not {resource_names.DESCRIPTIONS['subscription']}")
    if args.command == "replay":
        if not resource_names.is_valid("topic", args.topic):
            problems.append(f"--topic: {args.topic!r} is not {resource_names.DESCRIPTIONS['topic']}")
        if args.limit < 0 or args.rate < 0 or args.max_replays < 1:
            problems.append("--limit and --rate must be >= 0, --max-replays >= 1")
    if not 1 <= args.max <= 100_000:
        problems.append("--max must be between 1 and 100000")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problems = check_options(args)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        return inspect(args) if args.command == "inspect" else replay(args)
    except Unreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
