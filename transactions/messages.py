"""A contract-v1 message built from a Kaggle CSV row, and the two forms of transaction id.

The producer publishes these messages; the backfill turns each CSV line into the same record
and validates it with the same rules, so a file loaded in bulk and a file replayed as a stream
end up as the same cells (only ids and times differ). Ids never come from the clock:

- a replayed row is ``<run id>:<pass over the file>:<line>`` (:func:`replay_transaction_id`);
- a backfilled row is ``csv-<12 hex of sha1(file path)>:<byte offset of the line>`` (the path
  without a compression suffix, the offset in the uncompressed stream)
  (:func:`backfill_transaction_id`), with the purchase date at 00:00 UTC as its event time, since
  the CSV has no time of day. The offset, unlike a line number, is known to a worker that reads
  only a byte range of the file.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

import orjson

from transactions import attributes
from transactions.formats import EventClock, rfc3339_ms
from transactions.kaggle import SaleRow


class Message(NamedTuple):
    """A Pub/Sub message ready to publish (``broken`` names how, for a deliberately broken one)."""

    data: bytes
    attributes: dict[str, str]
    transaction_id: str
    broken: str | None = None


def replay_transaction_id(run_id: str, loop_pass: int, line: int) -> str:
    """Deterministic for a run, a pass over the file, and a line."""
    return f"{run_id}:{loop_pass}:{line}"


COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".deflate", ".xz", ".lzma")
"""The extensions by which a backfill reads a file compressed (Beam's ``CompressionTypes.AUTO``)."""


def uncompressed_name(path: str) -> str:
    """``sales.csv`` for ``sales.csv.gz``: the file a compressed one stands for."""
    for suffix in COMPRESSION_SUFFIXES:
        if path.endswith(suffix):
            return path[: -len(suffix)]
    return path


@lru_cache(maxsize=1024)
def file_digest(path: str) -> str:
    """12 hex characters naming a file inside transaction ids (ids allow no '/' or '*').

    The compression suffix is not part of it: ``sales.csv.gz`` holds the rows of ``sales.csv``,
    at the same byte offsets of its uncompressed stream, so compressing a file that was loaded
    already, and loading it again, rewrites the same rows instead of adding copies.
    """
    return hashlib.sha1(uncompressed_name(path).encode(), usedforsecurity=False).hexdigest()[:12]


def backfill_transaction_id(path: str, offset: int) -> str:
    """The id of the row a backfill writes for the line at ``offset`` of a file: the same on every run."""
    return f"csv-{file_digest(path)}:{offset}"


def backfill_event_time(purchase_date: str) -> str:
    """A backfilled row's event time: its purchase date (ISO) at 00:00:00.000 UTC."""
    return purchase_date + "T00:00:00.000Z"


def to_record(row: SaleRow, transaction_id: str, event_time: str) -> dict:
    """The JSON object of contract v1 for one CSV row (ids stay strings; money as in the file)."""
    return {
        "transaction_id": transaction_id,
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


_clock = EventClock()


def to_message(row: SaleRow, transaction_id: str, now: datetime | None = None) -> Message:
    """The message for a row, stamped ``now`` (default: the current time) as its event time."""
    event_time = rfc3339_ms(now) if now is not None else _clock.now()
    record = to_record(row, transaction_id, event_time)
    message_attributes = {attributes.TRANSACTION_ID: transaction_id, attributes.EVENT_TIME: event_time}
    return Message(orjson.dumps(record), message_attributes, transaction_id)
