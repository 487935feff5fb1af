"""Rows -> contract-v1 Pub/Sub messages, and deliberately broken ones for the dead-letter path."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import NamedTuple

import orjson

from producer.csv_source import SaleRow

BROKEN_KINDS = (
    "bad_json", "missing_field", "negative_price", "wrong_final_price", "bad_date",
    "bad_user_id",
)  # fmt: skip


class Message(NamedTuple):
    data: bytes
    attributes: dict[str, str]
    transaction_id: str
    broken: str | None = None


def transaction_id(run_id: str, loop_pass: int, line: int) -> str:
    """Deterministic for a run, a pass over the file, and a line."""
    return f"{run_id}:{loop_pass}:{line}"


def rfc3339_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _EventClock:
    """``now`` as RFC 3339 with milliseconds, formatting the date and time once per second.

    ``strftime`` per message was a fifth of the producer's CPU; only the milliseconds change
    between most messages.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        ms = time.time_ns() // 1_000_000
        second, millis = divmod(ms, 1000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        return f"{self._prefix}{millis:03d}Z"


_clock = _EventClock()


def to_record(row: SaleRow, tx_id: str, event_time: str) -> dict:
    return {
        "transaction_id": tx_id,
        "user_id": row.user_id,
        "product_id": row.product_id,
        "category": row.category,
        "price": row.price,
        "discount_pct": row.discount,
        "final_price": row.final_price,
        "payment_method": row.payment_method,
        "purchase_date": row.purchase_date,
        "event_time": event_time,
    }


def to_message(row: SaleRow, tx_id: str, now: datetime | None = None) -> Message:
    event_time = rfc3339_ms(now) if now is not None else _clock.now()
    record = to_record(row, tx_id, event_time)
    return Message(orjson.dumps(record), {"transaction_id": tx_id, "event_time": event_time}, tx_id)


def break_message(message: Message, kind: str) -> Message:
    """The same message, broken in one known way (each kind maps to one pipeline reason)."""
    record = orjson.loads(message.data)
    if kind == "bad_json":
        data = message.data[:-1]  # drop the closing brace
    else:
        if kind == "missing_field":
            del record["category"]
        elif kind == "negative_price":
            record["price"] = "-" + str(record["price"])
        elif kind == "wrong_final_price":
            record["final_price"] = "99999.99"
        elif kind == "bad_date":
            record["purchase_date"] = "31-02-2024"
        elif kind == "bad_user_id":
            record["user_id"] = "user#" + record["user_id"]
        data = orjson.dumps(record)
    return Message(data, message.attributes, message.transaction_id, kind)


class Breaker:
    """Chooses, with a fixed seed, which messages to break and how (``--invalid-share``)."""

    def __init__(self, share: float, seed: str) -> None:
        self._share = share
        self._rng = random.Random(seed)
        self._next_kind = 0

    def maybe_break(self, message: Message) -> Message:
        if self._share <= 0 or self._rng.random() >= self._share:
            return message
        kind = BROKEN_KINDS[self._next_kind % len(BROKEN_KINDS)]
        self._next_kind += 1
        return break_message(message, kind)
