"""What ``transacoes-deadletters inspect`` reports of the dead letters it pulled: counts by stage
and reason, the oldest and newest failure, and a few samples of each reason. Everything it shows
of a dead letter is a bounded, escaped excerpt: a dead letter's attributes and data are whatever
reached the topic."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from transactions import attributes, dead_letters
from transactions.excerpt import excerpt, message_line, path_line

__all__ = ["SAMPLES_PER_REASON", "print_summary", "reason_key", "source_of", "summarize", "transaction_of"]

SAMPLES_PER_REASON = 3


def reason_key(message: Any) -> str:
    """:func:`transactions.dead_letters.stage_and_reason` of a pulled message, escaped and bounded:
    a dead letter's attributes are whatever reached the topic."""
    return message_line(dead_letters.stage_and_reason(message.attributes), limit=80)


def source_of(message: Any) -> str | None:
    """``file@offset`` of a backfill line's dead letter (its byte offset); None for a Pub/Sub message's."""
    attrs = message.attributes
    if attributes.SOURCE_FILE not in attrs:
        return None
    return path_line(f"{attrs[attributes.SOURCE_FILE]}@{attrs.get(attributes.SOURCE_OFFSET, '?')}")


def preview(data: bytes) -> str:
    """The start of a dead letter's data, as a bounded, escaped excerpt."""
    return excerpt(data)


def transaction_of(message: Any) -> str:
    return message_line(message.attributes.get(attributes.TRANSACTION_ID, "-"), limit=80)


def summarize(subscription: str, messages: list[Any]) -> dict[str, Any]:
    """What ``inspect`` reports, as one JSON-ready document."""
    counts = Counter(reason_key(m.message) for m in messages)
    samples: dict[str, list[dict[str, str | None]]] = defaultdict(list)
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


def print_summary(summary: dict[str, Any]) -> None:
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
