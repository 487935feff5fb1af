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
import sys
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from transactions import dead_letters
from transactions.cli_errors import (
    ArgumentParser,
    check_names,
    finite_number,
    pubsub_existence_problem,
    run_against_google,
)
from transactions.excerpt import message_line
from transactions_tools.dead_letter_lease import MAX_PULL_RESPONSE_BYTES, Held
from transactions_tools.dead_letter_report import print_summary, summarize, transaction_of
from transactions_tools.replay_plan import Plan, ReplayChoice, plan, replay_attributes
from transactions_wire import clients

__all__ = ["build_parser", "main"]

NAMED_OPTIONS = (("subscription", "subscription"), ("topic", "topic"))
PUBLISH_TIMEOUT_SECONDS = 120


class Unreachable(Exception):
    """Pub/Sub cannot be reached, or the subscription or topic does not exist (exit code 3)."""


def inspect(args: argparse.Namespace) -> int:
    with ExitStack() as opened:
        held = Held(_subscriber(opened, args.subscription), args.subscription)
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


def replay(args: argparse.Namespace) -> int:
    from producer.pacing import Pacer

    acknowledged: list[str] = []
    failed: list[tuple[Any, str]] = []
    with ExitStack() as opened:
        held = Held(_subscriber(opened, args.subscription), args.subscription)
        publisher = _publisher(opened, args.topic)
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
                    attributes = replay_attributes(message.attributes)
                    pending.append((received, publisher.publish(args.topic, message.data, **attributes)))
                for received, future in pending:
                    try:
                        future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
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


def _report(args: argparse.Namespace, held: Held, decided: Plan, replayed: int, failed: list[tuple[Any, str]]) -> None:
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


def subscriber_client(opened: ExitStack) -> Any:
    """A subscriber that can pull ``PULL_BATCH`` of the largest dead letters there are, closed
    with ``opened`` (:func:`transactions_wire.clients.pubsub_subscriber`)."""
    return opened.enter_context(clients.pubsub_subscriber(max_receive_bytes=MAX_PULL_RESPONSE_BYTES))


def _subscriber(opened: ExitStack, subscription: str) -> Any:
    subscriber = subscriber_client(opened)
    _must_exist(
        f"subscription {subscription}",
        lambda: subscriber.get_subscription(subscription=subscription, timeout=10, retry=None),
    )
    return subscriber


def _publisher(opened: ExitStack, topic: str) -> Any:
    publisher = opened.enter_context(clients.pubsub_publisher())
    _must_exist(f"topic {topic}", lambda: publisher.get_topic(topic=topic, timeout=10, retry=None))
    return publisher


def _must_exist(what: str, get: Callable[[], object]) -> None:
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_names(parser, args, NAMED_OPTIONS if args.command == "replay" else NAMED_OPTIONS[:1])
    try:  # on any failure, whatever was pulled has been handed back (deadline 0) on the way out
        return run_against_google(lambda: inspect(args) if args.command == "inspect" else replay(args), "Pub/Sub", 3)
    except Unreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
