"""The producer's reading of the Kaggle CSV format and its mapping to contract v1 (no network)."""

import subprocess
import sys

import orjson
import pytest

from producer.csv_source import BadRow, SaleRow, UnusableInput, read_rows
from producer.messages import BROKEN_KINDS, Breaker, break_message, to_message
from producer.pacing import Pacer
from template.contract import InvalidMessage, parse_transaction

HEADER = "User_ID,Product_ID,Category,Price (Rs.),Discount (%),Final_Price(Rs.),Payment_Method,Purchase_Date"


def write(tmp_path, text: str, name="sales.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_kaggle_format_with_bom_crlf_and_whitespace(tmp_path):
    path = write(tmp_path, "\ufeff" + HEADER.replace(",", " , ") + "\r\n"
                 " 02428050 ,P1,Books,332,10,298.8,UPI,05-12-2024\r\n"
                 "98857e41,P2,Sports,244.8,15,208.08,Credit Card,29-02-2024\r\n")  # fmt: skip
    assert list(read_rows(path)) == [
        SaleRow(2, "02428050", "P1", "Books", "332", 10, "298.8", "UPI", "2024-12-05"),
        SaleRow(3, "98857e41", "P2", "Sports", "244.8", 15, "208.08", "Credit Card", "2024-02-29"),
    ]


def test_bad_rows_are_reported_with_their_line(tmp_path):
    path = write(tmp_path, HEADER + "\n"
                 "u1,P1,Books,abc,10,1,UPI,05-12-2024\n"
                 "u2,P2,Books,10,0,10,UPI,2024-12-05\n"
                 "u3,P3,Books,10,0\n"
                 "u4,P4,Books,10,0,10,UPI,31-12-2024\n")  # fmt: skip
    items = list(read_rows(path))
    assert [(i.line, type(i).__name__) for i in items] == [
        (2, "BadRow"),
        (3, "BadRow"),
        (4, "BadRow"),
        (5, "SaleRow"),
    ]
    assert items[0] == BadRow(2, "Price (Rs.) is not a number: 'abc'")
    assert items[1] == BadRow(3, "Purchase_Date is not dd-mm-yyyy: '2024-12-05'")
    assert items[2] == BadRow(4, "expected 8 columns, found 5")


def test_unknown_header_shows_expected_and_found(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n")
    with pytest.raises(UnusableInput, match=r"expected: User_ID,Product_ID.*\n  found:    a,b,c"):
        list(read_rows(path))


def test_start_line_skips_earlier_lines(tmp_path):
    path = write(tmp_path, HEADER + "\n" + "".join(f"u{i},P{i},Books,10,0,10,UPI,01-01-2024\n" for i in range(5)))
    assert [r.line for r in read_rows(path, start_line=4)] == [4, 5, 6]


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


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_every_broken_kind_is_rejected_by_the_pipeline(kind):
    row = SaleRow(7, "u1", "P1", "Books", "332", 10, "298.8", "UPI", "2024-12-05")
    with pytest.raises(InvalidMessage):
        parse_transaction(break_message(to_message(row, "r:0:7"), kind).data)


def test_invalid_share_is_about_the_share_and_cycles_kinds():
    row = SaleRow(7, "u1", "P1", "Books", "332", 10, "298.8", "UPI", "2024-12-05")
    breaker = Breaker(0.1, "seed")
    broken = [m.broken for m in (breaker.maybe_break(to_message(row, f"r:0:{i}")) for i in range(2000)) if m.broken]
    assert 150 < len(broken) < 250
    assert set(broken) == set(BROKEN_KINDS)


def test_pacer_grants_by_schedule_without_drift():
    now = [0.0]
    pacer = Pacer(100, clock=lambda: now[0], sleep=lambda s: None)
    granted = 0
    for _ in range(1000):  # 10 s in 10 ms steps, with jitter that must not accumulate
        granted += pacer.due(10)
        now[0] += 0.0101 if granted % 2 else 0.0099
    assert abs(granted - now[0] * 100) <= 2


def test_dry_run_prints_messages_and_a_summary():
    result = subprocess.run([sys.executable, "-m", "producer", "--dry-run", "--limit", "5", "--rate", "0", "--run-id", "t1"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [orjson.loads(line)["transaction_id"] for line in lines] == [f"t1:0:{n}" for n in range(2, 7)]
    assert "summary: published=5 failed=0" in result.stderr
