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

import operator
from typing import NamedTuple, Protocol

from transactions.formats import MAX_EVENT_MS

DEFAULT_TABLE = "transacoes"
FAMILY = "dados"
"""The column family of the transaction cells (garbage collection: keep one version)."""

SEPARATOR = "#"

CELLS = (
    (b"product_id", "product_id"),
    (b"category", "category"),
    (b"price", "price"),
    (b"discount", "discount"),
    (b"final_price", "final_price"),
    (b"payment", "payment_method"),
    (b"purchase_date", "purchase_date"),
)
"""The seven cells of a transaction row, in the order they are written: (qualifier, the
validated transaction's field it holds)."""
QUALIFIERS = tuple(qualifier for qualifier, _ in CELLS)
_CELL_VALUES = operator.attrgetter(*(name for _, name in CELLS))


class CellValues(Protocol):
    """What :func:`cells` reads of a validated transaction (a :class:`transactions.contract.Transaction`):
    the fields ``CELLS`` names, as the text they are stored as."""

    @property
    def product_id(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def price(self) -> str: ...

    @property
    def discount(self) -> str: ...

    @property
    def final_price(self) -> str: ...

    @property
    def payment_method(self) -> str: ...

    @property
    def purchase_date(self) -> str: ...


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


def user_prefix(user_id: str) -> bytes:
    """The key prefix of every row of one user (``#`` included, so ``u1`` never matches ``u10``)."""
    return f"{user_id}{SEPARATOR}".encode()


def cell_timestamp_micros(event_time_ms: int) -> int:
    """Bigtable wants microseconds at millisecond granularity: event ms × 1000."""
    return event_time_ms * 1000


def cells(transaction: CellValues) -> tuple[tuple[bytes, bytes], ...]:
    """The cells of one validated transaction, in ``CELLS`` order; values are UTF-8 text."""
    return tuple(zip(QUALIFIERS, map(str.encode, _CELL_VALUES(transaction))))  # noqa: B905 (one source)
