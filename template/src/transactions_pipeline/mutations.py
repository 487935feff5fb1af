"""``MutateRowsRequest`` entries written straight in protobuf wire format.

Building an entry as protobuf objects (an ``Entry``, then a ``Mutation`` and a ``SetCell`` per
cell) was most of our sink's CPU (``make bench`` measures it; ``benchmarks/RESULTS.md``). The
wire format of these few fields is simple and frozen by protobuf's compatibility rules, so each
entry is encoded here as bytes, and a batch becomes a request with one C-level parse. What goes
on the wire is checked against the protobuf library's own encoding in ``tests/unit/test_mutations.py``.

Field numbers (google/bigtable/v2/bigtable.proto and data.proto):

- ``MutateRowsRequest``: table_name = 1, entries = 2 (repeated Entry), app_profile_id = 3;
- ``MutateRowsRequest.Entry``: row_key = 1, mutations = 2 (repeated Mutation);
- ``Mutation``: set_cell = 1;
- ``Mutation.SetCell``: family_name = 1, column_qualifier = 2, timestamp_micros = 3 (int64),
  value = 4.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from google.cloud.bigtable_v2.types import bigtable as bigtable_types

from transactions.protowire import SHORT, SHORT_VARINTS, length_delimited, tag, varint
from transactions_pipeline.rows import BigtableRow

MutateRowsRequestPb = bigtable_types.MutateRowsRequest.pb()

_FIELD_1_BYTES = tag(1, 2)
_FIELD_2_BYTES = tag(2, 2)
_FIELD_3_VARINT = tag(3, 0)
_FIELD_4_BYTES = tag(4, 2)


class _CellHeads(dict):
    """qualifier -> the SetCell fields that are the same in every row: family and qualifier."""

    def __init__(self, family: str) -> None:
        super().__init__()
        self._family_field = length_delimited(1, family.encode())

    def __missing__(self, qualifier: bytes) -> bytes:
        head = self[qualifier] = self._family_field + length_delimited(2, qualifier)
        return head


@lru_cache(maxsize=64)
def _cell_heads(family: str) -> _CellHeads:
    return _CellHeads(family)


def encode_entry(row: BigtableRow, family: str) -> bytes:
    """One ``MutateRowsRequest.Entry``: a SetCell per cell, all stamped with the row's timestamp.

    Like protobuf itself, a field holding its default (timestamp 0, an empty value) is left out.
    Lengths under ``SHORT`` (16,384: nearly all) come from a table of varints, without a call.
    """
    heads = _cell_heads(family)
    short = SHORT_VARINTS
    timestamp = _FIELD_3_VARINT + varint(row.timestamp_micros) if row.timestamp_micros else b""
    key = row.row_key
    parts = [_FIELD_1_BYTES, short[len(key)] if len(key) < SHORT else varint(len(key)), key]
    for qualifier, value in row.cells:
        size = len(value)
        if size >= SHORT:
            set_cell = heads[qualifier] + timestamp + _FIELD_4_BYTES + varint(size) + value
        elif size:
            set_cell = heads[qualifier] + timestamp + _FIELD_4_BYTES + short[size] + value
        else:
            set_cell = heads[qualifier] + timestamp
        size = len(set_cell)
        mutation = _FIELD_1_BYTES + (short[size] if size < SHORT else varint(size)) + set_cell
        size = len(mutation)
        parts += (_FIELD_2_BYTES, short[size] if size < SHORT else varint(size), mutation)
    return b"".join(parts)


def mutate_rows_request(table_name: str, app_profile_id: str, entries: Sequence[bytes]):
    """The ``MutateRowsRequest`` protobuf of encoded entries (parsed once, in C)."""
    parts = [length_delimited(1, table_name.encode())]
    if app_profile_id:
        parts.append(length_delimited(3, app_profile_id.encode()))
    for entry in entries:
        parts += (_FIELD_2_BYTES, varint(len(entry)), entry)
    return MutateRowsRequestPb.FromString(b"".join(parts))
