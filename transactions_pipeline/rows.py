"""What the Bigtable writer takes: one row's key, cells and timestamp, and where it came from.

The layout itself (key form, qualifiers, timestamps) is contract v1's: :mod:`transactions.layout`.
The source record rides along so that a row Bigtable refuses becomes a dead letter carrying the
original bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol

from transactions import layout
from transactions.contract import Transaction


class Sale(NamedTuple):
    """What the rollups count of a transaction, as fields (never parsed back from its cells)."""

    transaction_id: str
    user_id: str
    category: str
    event_time_ms: int
    cents: int


class SourceMessage(Protocol):
    """A row's source: a Pub/Sub message, or a backfill's CSV line, as the job read it."""

    @property
    def data(self) -> bytes: ...

    @property
    def attributes(self) -> Mapping[str, str]: ...


class BigtableRow(NamedTuple):
    """What the writer needs for one row, plus the source message for a write dead letter."""

    row_key: bytes
    cells: tuple[tuple[bytes, bytes], ...]
    timestamp_micros: int
    source: SourceMessage
    """The original Pub/Sub message (or CSV line), for the dead letter of a row Bigtable refuses."""
    sale: Sale
    """The transaction's sale, for the rollups once the row is written."""


def to_row(transaction: Transaction, source: SourceMessage) -> BigtableRow:
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
