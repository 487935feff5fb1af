"""``MutateRowsRequest`` entries written straight in protobuf wire format.

Building an entry as protobuf objects (an ``Entry``, then a ``Mutation`` and a ``SetCell`` per
cell) was most of our sink's CPU (``make bench`` measures it; ``benchmarks/RESULTS.md``). The
wire format of these few fields is simple and frozen by protobuf's compatibility rules, so each
entry is encoded here as bytes, and a batch's request is those bytes joined, never parsed. What goes
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

from transactions.protowire import SHORT, SHORT_VARINTS, length_delimited, tag, varint
from transactions_pipeline.rows import BigtableRow

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

    A transaction's key and cells are short: when every length fits in one varint byte (under
    128), each mutation is one bytes-formatting operation. Anything longer, an empty value or a
    zero timestamp takes :func:`encode_entry_general`.
    """
    key = row.row_key
    micros = row.timestamp_micros
    if len(key) >= 128 or not micros:
        return encode_entry_general(row, family)
    heads = _cell_heads(family)
    timestamp = _FIELD_3_VARINT + varint(micros)
    fixed = len(timestamp) + 2  # plus the value's tag and one-byte length
    parts = [b"\x0a%c%s" % (len(key), key)]
    for qualifier, value in row.cells:
        head = heads[qualifier]
        set_cell = len(head) + fixed + len(value)
        if set_cell > 125 or not value:  # the mutation (set_cell + 2) must fit in one byte too
            return encode_entry_general(row, family)
        parts.append(b"\x12%c\x0a%c%s%s\x22%c%s" % (set_cell + 2, set_cell, head, timestamp, len(value), value))
    return b"".join(parts)


def encode_entry_general(row: BigtableRow, family: str) -> bytes:
    """:func:`encode_entry` for any lengths: every length worked out arithmetically, one join.

    Like protobuf itself, a field holding its default (timestamp 0, an empty value) is left out.
    Lengths under ``SHORT`` (16,384: nearly all) come from a table of varints.
    """
    heads = _cell_heads(family)
    short = SHORT_VARINTS
    timestamp = _FIELD_3_VARINT + varint(row.timestamp_micros) if row.timestamp_micros else b""
    key = row.row_key
    parts = [_FIELD_1_BYTES, short[len(key)] if len(key) < SHORT else varint(len(key)), key]
    append = parts.append
    fixed = len(timestamp)
    for qualifier, value in row.cells:
        head = heads[qualifier]
        size = len(value)
        if size:
            size_varint = short[size] if size < SHORT else varint(size)
            set_cell = len(head) + fixed + 1 + len(size_varint) + size
        else:
            set_cell = len(head) + fixed
        set_cell_varint = short[set_cell] if set_cell < SHORT else varint(set_cell)
        mutation = 1 + len(set_cell_varint) + set_cell
        append(_FIELD_2_BYTES)
        append(short[mutation] if mutation < SHORT else varint(mutation))
        append(_FIELD_1_BYTES)
        append(set_cell_varint)
        append(head)
        append(timestamp)
        if size:
            append(_FIELD_4_BYTES)
            append(size_varint)
            append(value)
    return b"".join(parts)


def mutate_rows_request_bytes(table_name: str, app_profile_id: str, entries: Sequence[bytes]) -> bytes:
    """A whole ``MutateRowsRequest`` of encoded entries, as bytes ready for the wire, its fields in
    number order as protobuf itself writes them."""
    parts = [length_delimited(1, table_name.encode())]
    for entry in entries:
        parts += (_FIELD_2_BYTES, varint(len(entry)), entry)
    if app_profile_id:
        parts.append(length_delimited(3, app_profile_id.encode()))
    return b"".join(parts)
