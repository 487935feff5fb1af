"""Which dead letters a replay takes, and with which attributes: the decisions of
``transacoes-deadletters replay``, apart from Pub/Sub.

A replay republishes the data unchanged, with the attributes less the dead letter's own and
``replay_count`` one higher. Refused, and left on the subscription: a backfill's CSV line (it
belongs in a fixed file and a new backfill), a rollup total (not a transaction; the window's
next firing rewrites it), and a message replayed ``--max-replays`` times already or whose
``replay_count`` is forged (never reset to 0).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from transactions import attributes, dead_letters
from transactions.excerpt import excerpt
from transactions_tools.dead_letter_report import source_of

__all__ = ["Plan", "ReplayChoice", "plan", "replay_attributes", "replays_of"]

MAX_REPLAY_COUNT_DIGITS = 6


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
