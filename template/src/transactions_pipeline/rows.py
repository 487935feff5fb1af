"""What the Bigtable writer takes: one row's key, cells and timestamp, and where it came from.

The layout itself (key form, qualifiers, timestamps) is contract v1's: :mod:`transactions.layout`.
The source record rides along so that a row Bigtable refuses becomes a dead letter carrying the
original bytes.
"""

from __future__ import annotations

from typing import NamedTuple

from transactions import layout
from transactions.contract import Transaction


class Sale(NamedTuple):
    """What the rollups count of a transaction, as fields (never parsed back from its cells)."""

    transaction_id: str
    user_id: str
    category: str
    event_time_ms: int
    cents: int


class BigtableRow(NamedTuple):
    """What the writer needs for one row, plus the source message for a write dead letter."""

    row_key: bytes
    cells: tuple[tuple[bytes, bytes], ...]
    timestamp_micros: int
    source: object
    """The original Pub/Sub message (or CSV line): anything with ``data`` and ``attributes``."""
    sale: Sale | None = None
    """The transaction's sale, for the rollups once the row is written (None for a rollup's own row)."""


def to_row(transaction: Transaction, source: object) -> BigtableRow:
    """Key and cells of one validated transaction, and its sale."""
    event_ms = transaction.event_time_ms
    return BigtableRow(
        layout.row_key(transaction.user_id, event_ms, transaction.transaction_id),
        layout.cells(transaction),
        layout.cell_timestamp_micros(event_ms),
        source,
        Sale(
            transaction.transaction_id,
            transaction.user_id,
            transaction.category,
            event_ms,
            transaction.final_price_cents,
        ),
    )
