"""The Bigtable layout of a transaction: table and family, the row key and its inverse, the cells.

The key ``{user_id}#{reverse_ms:013d}#{transaction_id}`` (``reverse_ms = MAX_EVENT_MS - event
ms``) makes a prefix scan on ``user_id#`` return that user's transactions newest first; the
transaction id keeps two transactions of the same millisecond apart. ``#`` is never in a user
id (the contract refuses it), so the user is everything before the first ``#``, and the
transaction id everything after the second. Every cell is stamped with the event time, never
the server's or the worker's clock, so a redelivered message rewrites exactly the same cells.
Design notes: ``docs/bigtable-layout.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from transactions.contract import Transaction

DEFAULT_TABLE = "transacoes"
FAMILY = "dados"
"""The column family of the transaction cells (garbage collection: keep one version)."""

MAX_EVENT_MS = 9_999_999_999_999
"""The largest event time a 13-digit reversed timestamp can hold (year 2286)."""

SEPARATOR = "#"

QUALIFIERS = (
    b"product_id",
    b"category",
    b"price",
    b"discount",
    b"final_price",
    b"payment",
    b"purchase_date",
)
"""The seven cells of a transaction row, in the order they are written."""


class RowKey(NamedTuple):
    """A transaction row key, taken apart."""

    user_id: str
    event_time_ms: int
    transaction_id: str


def row_key(user_id: str, event_time_ms: int, transaction_id: str) -> bytes:
    """``user#reverse_ms#txid``: newer events sort first within a user's prefix."""
    return f"{user_id}#{MAX_EVENT_MS - event_time_ms:013d}#{transaction_id}".encode()


def parse_row_key(key: bytes) -> RowKey:
    """The inverse of :func:`row_key`; raises ``ValueError`` for a key of another form."""
    user_id, reverse_ms, transaction_id = key.decode().split(SEPARATOR, 2)
    if len(reverse_ms) != 13 or not reverse_ms.isdigit():
        raise ValueError(f"not a transaction row key: {key!r}")
    return RowKey(user_id, MAX_EVENT_MS - int(reverse_ms), transaction_id)


def split_row_key(key: bytes) -> tuple[bytes, int, bytes]:
    """``(user_id, event_time_ms, transaction_id)`` of a key this module made, ids left as bytes:
    :func:`parse_row_key` without its checks and decoding, for a hot path that only counts."""
    user_id, reverse_ms, transaction_id = key.split(b"#", 2)
    return user_id, MAX_EVENT_MS - int(reverse_ms), transaction_id


def user_prefix(user_id: str) -> bytes:
    """The key prefix of every row of one user (``#`` included, so ``u1`` never matches ``u10``)."""
    return f"{user_id}{SEPARATOR}".encode()


def cell_timestamp_micros(event_time_ms: int) -> int:
    """Bigtable wants microseconds at millisecond granularity: event ms × 1000."""
    return event_time_ms * 1000


def cells(transaction: Transaction) -> tuple[tuple[bytes, bytes], ...]:
    """The cells of one validated transaction, in ``QUALIFIERS`` order; values are UTF-8 text."""
    return (
        (b"product_id", transaction.product_id.encode()),
        (b"category", transaction.category.encode()),
        (b"price", transaction.price.encode()),
        (b"discount", transaction.discount.encode()),
        (b"final_price", transaction.final_price.encode()),
        (b"payment", transaction.payment_method.encode()),
        (b"purchase_date", transaction.purchase_date.encode()),
    )
