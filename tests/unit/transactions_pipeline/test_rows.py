"""One validated transaction as the row the writer takes: its key, cells, timestamp, source and
sale, with exact values."""

from tests.messages import encode, valid_record
from transactions.contract import parse_transaction
from transactions_pipeline.rows import BigtableRow, Sale, to_row


class Source:
    """A row's source, as the job read it (a Pub/Sub message's data and attributes)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.attributes = {"transaction_id": "test:000000"}


def test_a_transactions_row_is_its_key_cells_timestamp_source_and_sale():
    data = encode(valid_record(0))
    source = Source(data)
    row = to_row(parse_transaction(data), source)
    assert row == BigtableRow(
        b"02428050#8235030767923#test:000000",
        (
            (b"product_id", b"P00000"),
            (b"category", b"Books"),
            (b"price", b"332.00"),
            (b"discount", b"10"),
            (b"final_price", b"298.80"),
            (b"payment", b"UPI"),
            (b"purchase_date", b"2024-01-01"),
        ),
        1_764_969_232_076_000,
        source,
        Sale("test:000000", "02428050", "Books", 1_764_969_232_076, 29880),
    )
    assert row.source is source  # the original bytes, for the dead letter of a row Bigtable refuses
