"""Bigtable's ``MutateRows``: each entry written straight in protobuf wire format, and a batch's
request sent as its bytes on the generated client's channel.

Field numbers (google/bigtable/v2/bigtable.proto and data.proto):

- ``MutateRowsRequest``: table_name = 1, entries = 2 (repeated Entry), app_profile_id = 3;
- ``MutateRowsRequest.Entry``: row_key = 1, mutations = 2 (repeated Mutation);
- ``Mutation``: set_cell = 1;
- ``Mutation.SetCell``: family_name = 1, column_qualifier = 2, timestamp_micros = 3 (int64),
  value = 4.

Retries are the caller's (the pipeline's writer has its own policy); the sender asks for none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from transactions_wire.channel import Metadata, raw_method, routing_header

if TYPE_CHECKING:
    from google.cloud.bigtable.data import BigtableDataClient
    from google.cloud.bigtable_v2 import BigtableClient
from transactions_wire.protowire import SHORT, SHORT_VARINTS, length_delimited, tag, varint

METHOD = "/google.bigtable.v2.Bigtable/MutateRows"
DEFAULT_TIMEOUT_SECONDS = 600.0

_FIELD_1_BYTES = tag(1, 2)
_FIELD_2_BYTES = tag(2, 2)
_FIELD_3_VARINT = tag(3, 0)
_FIELD_4_BYTES = tag(4, 2)


class Row(Protocol):
    """What an entry is made of: a key, its cells, and the one timestamp they all carry."""

    @property
    def row_key(self) -> bytes: ...

    @property
    def cells(self) -> Sequence[tuple[bytes, bytes]]: ...

    @property
    def timestamp_micros(self) -> int: ...


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


def encode_entry(row: Row, family: str) -> bytes:
    """One ``MutateRowsRequest.Entry``: a SetCell per cell, all stamped with the row's timestamp.

    A transaction's key and cells are short: when every length fits in one varint byte (under
    128), each mutation is one bytes-formatting operation. That path is worth 15-20% of the write
    stage's CPU per row in ``make bench`` (``docs/performance.md``, "The wire encoders"), so it is
    kept; anything longer, an empty value or a zero timestamp takes the general path.
    """
    key = row.row_key
    micros = row.timestamp_micros
    if len(key) >= 128 or not micros:
        return _encode_entry_any_lengths(row, family)
    heads = _cell_heads(family)
    timestamp = _FIELD_3_VARINT + varint(micros)
    fixed = len(timestamp) + 2  # plus the value's tag and one-byte length
    parts = [b"\x0a%c%s" % (len(key), key)]
    for qualifier, value in row.cells:
        head = heads[qualifier]
        set_cell = len(head) + fixed + len(value)
        if set_cell > 125 or not value:  # the mutation (set_cell + 2) must fit in one byte too
            return _encode_entry_any_lengths(row, family)
        parts.append(b"\x12%c\x0a%c%s%s\x22%c%s" % (set_cell + 2, set_cell, head, timestamp, len(value), value))
    return b"".join(parts)


def _encode_entry_any_lengths(row: Row, family: str) -> bytes:
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


Sender = Callable[[bytes, Metadata, float], Iterable[Any]]
"""(encoded MutateRowsRequest, routing metadata, timeout) -> the MutateRowsResponse protobufs."""


def routing_metadata(table_name: str, app_profile_id: str) -> Metadata:
    """The ``x-goog-request-params`` header of a table and app profile, as the generated client
    builds it (it names the app profile even when it is empty)."""
    return routing_header({"table_name": table_name, "app_profile_id": app_profile_id})


def mutate_rows_sender(table_data_client: BigtableClient | BigtableDataClient) -> Sender:
    """``MutateRows`` on the channel of a generated ``BigtableClient``, or of the data client
    (which holds one), over gRPC (:mod:`transactions_wire.channel`)."""
    from google.cloud.bigtable_v2.services.bigtable.transports.base import DEFAULT_CLIENT_INFO
    from google.cloud.bigtable_v2.types import bigtable as bigtable_types

    wrapped = raw_method(
        table_data_client.transport,
        METHOD,
        bigtable_types.MutateRowsResponse.pb(),
        streaming=True,
        default_timeout=DEFAULT_TIMEOUT_SECONDS,
        client_info=DEFAULT_CLIENT_INFO,
    )

    def send(request: bytes, metadata: Metadata, timeout: float) -> Iterable[Any]:
        return wrapped(request, retry=None, timeout=timeout, metadata=metadata)

    return send


def read_rows_by_keys(row_keys: Sequence[bytes], row_filter: Any = None) -> dict[str, Any]:
    """A ``ReadRows`` query of these row keys, for python-bigtable's data client (``Table.read_rows``
    and ``read_rows_stream``), as the request's fields: a raw ``RowSet`` protobuf built in one
    call, where a ``ReadRowsQuery`` converts each key through proto-plus (3 µs a key, most of a
    rollups batch's read). The data client takes a dict for its request's fields
    (``_ReadRowsOperation``: ``ReadRowsRequest(**query, table_name=..., app_profile_id=...)``);
    ``tests/integration/test_rollups_chaos_emulator.py`` reads through it, calm, refused and cut."""
    from google.cloud.bigtable_v2.types import data as data_types

    fields: dict[str, Any] = {"rows": data_types.RowSet.pb()(row_keys=row_keys)}
    if row_filter is not None:
        fields["filter"] = row_filter._to_pb()
    return fields


def read_rows_after(start_key_open: bytes, row_filter: Any = None) -> dict[str, Any]:
    """A ``ReadRows`` query of every row after ``start_key_open`` (the whole table for b""), as
    :func:`read_rows_by_keys` builds one: a retry of a cut scan asks for the rest only."""
    from google.cloud.bigtable_v2.types import data as data_types

    fields: dict[str, Any] = {}
    if start_key_open:
        row_range = data_types.RowRange.pb()(start_key_open=start_key_open)
        fields["rows"] = data_types.RowSet.pb()(row_ranges=[row_range])
    if row_filter is not None:
        fields["filter"] = row_filter._to_pb()
    return fields
