"""A contract-v1 message built from a CSV row passes the pipeline's validation; id forms are stable."""

import orjson

from transactions.contract import parse_transaction
from transactions.kaggle import SaleRow
from transactions.messages import backfill_event_time, backfill_transaction_id, file_digest, to_message


def test_message_matches_contract_v1_and_passes_the_pipeline_validation():
    row = SaleRow(7, "02428050", "P1", "Books", "332", 10, "298.8", "UPI", "2024-12-05")
    message = to_message(row, "run1:0:7")
    record = orjson.loads(message.data)
    assert record["user_id"] == "02428050" and record["price"] == "332" and record["discount_pct"] == 10
    assert message.attributes == {"transaction_id": "run1:0:7", "event_time": record["event_time"]}
    tx = parse_transaction(message.data)
    assert (tx.transaction_id, tx.price, tx.final_price, tx.purchase_date) == (
        "run1:0:7",
        "332.00",
        "298.80",
        "2024-12-05",
    )


def test_backfill_ids_and_times_come_from_the_file_never_the_clock():
    path = "gs://my-bucket/sales/2024.csv"
    assert backfill_transaction_id(path, 7) == f"csv-{file_digest(path)}:7"
    assert len(file_digest(path)) == 12 and file_digest(path) != file_digest(path + "x")
    assert backfill_event_time("2024-04-12") == "2024-04-12T00:00:00.000Z"
