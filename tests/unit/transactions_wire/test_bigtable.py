"""Our hand-encoded MutateRows entries are byte for byte what the protobuf library builds."""

import pytest
from google.cloud.bigtable_v2.types import bigtable as bigtable_types
from google.cloud.bigtable_v2.types import data as data_types

from tests.rows import row_of
from transactions_pipeline.rows import BigtableRow
from transactions_wire.bigtable import encode_entry, mutate_rows_request_bytes

Request = bigtable_types.MutateRowsRequest.pb()
Mutation = data_types.Mutation.pb()


def library_entry(row: BigtableRow, family: str):
    return Request.Entry(
        row_key=row.row_key,
        mutations=[
            Mutation(
                set_cell=Mutation.SetCell(
                    family_name=family, column_qualifier=q, timestamp_micros=row.timestamp_micros, value=v
                )
            )
            for q, v in row.cells
        ],
    )


ROWS = [
    row_of(
        b"02428050#8235030767923#r:0:2",
        ((b"price", b"332.00"), (b"category", b"Home & Kitchen")),
        1_764_969_232_076_000,
    ),
    row_of(b"u" * 300, ((b"q" * 200, b"v" * 20_000), (b"empty", b"")), 0),  # multi-byte lengths
    row_of("usuário#0000000000000#ação".encode(), ((b"payment", "Cartão".encode()),), 9_999_999_999_999_000),
    row_of(b"k", (), 1000),  # no cells
    row_of(b"u#1#t", ((b"price", b"v" * 100), (b"category", b"v" * 101)), 1000),  # across the fast path's edge
    row_of(b"k" * 127, ((b"q", b"v"),), 5),
    row_of(b"k" * 128, ((b"q", b"v"),), 5),
]


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("family", ["dados", "f" * 64])
def test_entry_bytes_equal_the_library_encoding(row, family):
    expected = library_entry(row, family)
    assert encode_entry(row, family) == expected.SerializeToString(deterministic=True)
    assert Request.Entry.FromString(encode_entry(row, family)) == expected


@pytest.mark.parametrize("app_profile", ["", "writes"])
def test_request_of_encoded_entries(app_profile):
    table = "projects/local-project/instances/local-instance/tables/transacoes"
    request = Request.FromString(
        mutate_rows_request_bytes(table, app_profile, [encode_entry(r, "dados") for r in ROWS])
    )
    assert request == Request(
        table_name=table, app_profile_id=app_profile, entries=[library_entry(r, "dados") for r in ROWS]
    )


def test_negative_timestamps_are_refused():
    with pytest.raises(ValueError, match="negative"):
        encode_entry(row_of(b"k", ((b"q", b"v"),), -1), "dados")


@pytest.mark.parametrize("size", range(0, 140))
def test_every_value_length_around_the_one_byte_fast_path_encodes_exactly(size):
    row = row_of(
        b"02428050#8235030767923#r:0:2", ((b"category", b"c" * size), (b"price", b"1.00")), 1_764_969_232_076_000
    )
    assert encode_entry(row, "dados") == library_entry(row, "dados").SerializeToString(deterministic=True)


def test_a_scan_query_is_the_whole_table_or_the_rows_after_a_key():
    from google.cloud.bigtable.data import row_filters

    from transactions_wire.bigtable import read_rows_after

    assert read_rows_after(b"") == {}
    fields = read_rows_after(b"ana", row_filters.CellsColumnLimitFilter(1))
    [row_range] = fields["rows"].row_ranges
    assert row_range.start_key_open == b"ana" and not row_range.HasField("end_key_open")
    assert fields["filter"].cells_per_column_limit_filter == 1
