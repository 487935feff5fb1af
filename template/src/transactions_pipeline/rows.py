"""What the Bigtable writer takes: one row's key, cells and timestamp, and where it came from.

The layout itself (key form, qualifiers, timestamps) is contract v1's: :mod:`transactions.layout`.
The source record rides along so that a row Bigtable refuses becomes a dead letter carrying the
original bytes.
"""

from __future__ import annotations

from typing import NamedTuple

from transactions import layout
from transactions.contract import Transaction


class BigtableRow(NamedTuple):
    """What the writer needs for one row, plus the source message for a write dead letter."""

    row_key: bytes
    cells: tuple[tuple[bytes, bytes], ...]
    timestamp_micros: int
    source: object
    """The original Pub/Sub message (or CSV line): anything with ``data`` and ``attributes``."""


def to_row(transaction: Transaction, source: object) -> BigtableRow:
    """Key and cells of one validated transaction."""
    return BigtableRow(
        layout.row_key(transaction.user_id, transaction.event_time_ms, transaction.transaction_id),
        layout.cells(transaction),
        layout.cell_timestamp_micros(transaction.event_time_ms),
        source,
    )
