"""Rows for the tests of what carries them (the wire encoding, the writer, the sink), where only
a row's key, cells and timestamp matter: a source and a sale that those tests never read."""

from __future__ import annotations

from typing import NamedTuple

from transactions_pipeline.rows import BigtableRow, Sale, SourceMessage


class Source(NamedTuple):
    """A row's source, shaped like a Pub/Sub message (``data`` + ``attributes``)."""

    data: bytes
    attributes: dict[str, str]


NO_SOURCE = Source(b"", {})
"""A source no test reads (every row carries one: it becomes a write dead letter's message)."""
SALE = Sale("t", "u", "c", 0, 0)
"""A sale no test reads (every row carries one: the rollups count it once the row is written)."""


def row_of(
    row_key: bytes, cells: tuple[tuple[bytes, bytes], ...], timestamp_micros: int, source: SourceMessage = NO_SOURCE
) -> BigtableRow:
    """A row of these cells, from ``source``, carrying :data:`SALE`."""
    return BigtableRow(row_key, cells, timestamp_micros, source, SALE)
