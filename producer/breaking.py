"""Deliberately broken messages, for exercising the pipeline's dead-letter path.

``--invalid-share`` breaks a fixed-seed share of the messages, each in one of the kinds below;
every kind maps to one reason code of contract v1, so an operator can check the dead letters
that come out against the log of what the producer broke.
"""

from __future__ import annotations

import random

import orjson

from transactions.messages import Message

BROKEN_KINDS = ("bad_json", "missing_field", "negative_price", "wrong_final_price", "bad_date", "bad_user_id")


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
