"""Bigtable layout of a transaction: the row key and the seven cells (DESIGN.md).

The key ``{user_id}#{reverse_ms:013d}#{transaction_id}`` makes a prefix scan on ``user_id#``
return that user's transactions newest first; the transaction id keeps two transactions of
the same millisecond apart. Cells are stamped with the event time, never the server's or the
worker's clock, so a redelivered message rewrites exactly the same cells.
"""

from __future__ import annotations

from typing import NamedTuple

from template.contract import MAX_EVENT_MS, Transaction

QUALIFIERS = (
    b"product_id",
    b"category",
    b"price",
    b"discount",
    b"final_price",
    b"payment",
    b"purchase_date",
)


class BigtableRow(NamedTuple):
    """What the writer needs for one row, plus the source message for a write dead letter."""

    row_key: bytes
    cells: tuple[tuple[bytes, bytes], ...]
    timestamp_micros: int
    source: object
    """The original Pub/Sub message (or CSV line) that produced the row."""


def row_key(user_id: str, event_time_ms: int, transaction_id: str) -> bytes:
    """``user#reverse_ms#txid``: newer events sort first within a user's prefix."""
    return f"{user_id}#{MAX_EVENT_MS - event_time_ms:013d}#{transaction_id}".encode()


def cell_timestamp_micros(event_time_ms: int) -> int:
    """Bigtable wants microseconds at millisecond granularity: event ms × 1000."""
    return event_time_ms * 1000


def to_row(transaction: Transaction, source: object) -> BigtableRow:
    """Key and cells of one validated transaction; values are UTF-8 text."""
    return BigtableRow(
        row_key(transaction.user_id, transaction.event_time_ms, transaction.transaction_id),
        (
            (b"product_id", transaction.product_id.encode()),
            (b"category", transaction.category.encode()),
            (b"price", transaction.price.encode()),
            (b"discount", transaction.discount.encode()),
            (b"final_price", transaction.final_price.encode()),
            (b"payment", transaction.payment_method.encode()),
            (b"purchase_date", transaction.purchase_date.encode()),
        ),
        cell_timestamp_micros(transaction.event_time_ms),
        source,
    )
