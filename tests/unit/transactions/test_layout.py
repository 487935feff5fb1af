"""Row key order, its inverse, and the cell layout (docs/bigtable-layout.md)."""

import pytest

from tests.messages import BASE_EVENT_MS, encode, event_time, valid_record
from tests.rows import Source
from transactions.contract import Transaction, parse_transaction
from transactions.layout import CELLS, QUALIFIERS, CellValues, RowKey, parse_row_key, row_key, user_prefix
from transactions_pipeline.rows import to_row


def test_row_key_form():
    assert row_key("02428050", 1_764_969_232_076, "run:1") == b"02428050#8235030767923#run:1"


def test_newer_transaction_of_a_user_sorts_first():
    older = row_key("u1", BASE_EVENT_MS, "t1")
    newer = row_key("u1", BASE_EVENT_MS + 1, "t0")
    assert sorted([older, newer]) == [newer, older]


def test_same_millisecond_gives_two_keys():
    assert row_key("u1", BASE_EVENT_MS, "a") != row_key("u1", BASE_EVENT_MS, "b")


def test_reverse_timestamp_is_zero_padded_to_13_digits():
    assert row_key("u", 9_999_999_999_999, "t") == b"u#0000000000000#t"
    assert row_key("u", 0, "t") == b"u#9999999999999#t"


def test_prefix_of_one_user_does_not_match_another():
    # "u1#" can never be a prefix of user "u10"'s keys because '#' is not allowed in user ids.
    assert not row_key("u10", BASE_EVENT_MS, "t").startswith(b"u1#")


def test_cells_and_timestamp():
    record = valid_record(0, event_time=event_time(BASE_EVENT_MS))
    message = Source(encode(record), {})
    row = to_row(parse_transaction(message.data), source=message)
    assert row.row_key == b"02428050#8235030767923#test:000000"
    assert row.timestamp_micros == BASE_EVENT_MS * 1000
    assert tuple(q for q, _ in row.cells) == QUALIFIERS
    assert dict(row.cells) == {
        b"product_id": b"P00000",
        b"category": b"Books",
        b"price": b"332.00",
        b"discount": b"10",
        b"final_price": b"298.80",
        b"payment": b"UPI",
        b"purchase_date": b"2024-01-01",
    }
    assert row.source is message


def test_the_cells_type_names_exactly_the_fields_the_cells_are_read_from():
    """``cells`` reads ``CELLS``' fields; :class:`CellValues` types them (without importing the contract)."""
    typed = {name for name, member in vars(CellValues).items() if isinstance(member, property)}
    assert typed == {field for _, field in CELLS}
    assert typed <= set(Transaction._fields)


@pytest.mark.parametrize(
    ("user_id", "event_ms", "transaction_id"),
    [("02428050", 1_764_969_232_076, "run:1"), ("u", 0, "t#with#hashes"), ("ação", 9_999_999_999_999, "x")],
)
def test_a_key_reads_back_as_its_user_time_and_transaction(user_id, event_ms, transaction_id):
    key = row_key(user_id, event_ms, transaction_id)
    assert parse_row_key(key) == RowKey(user_id, event_ms, transaction_id)


@pytest.mark.parametrize("key", [b"no-separators", b"u#123#t", b"u#abcdefghijklm#t"])
def test_keys_of_another_form_are_refused(key):
    with pytest.raises(ValueError):
        parse_row_key(key)


def test_user_prefix_ends_with_the_separator():
    assert user_prefix("u1") == b"u1#"
    assert row_key("u1", BASE_EVENT_MS, "t").startswith(user_prefix("u1"))
