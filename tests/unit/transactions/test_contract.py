"""Every rule of message contract v1: a passing and a failing example, with the exact reason."""

import orjson
import pytest

from tests.messages import encode, invalid_messages, valid_record
from transactions.contract import MAX_MESSAGE_BYTES, USER_ID_RULE, InvalidMessage, is_valid_user_id, parse_transaction
from transactions.formats import format_cents


def reject(record_or_bytes) -> InvalidMessage:
    data = record_or_bytes if isinstance(record_or_bytes, bytes) else encode(record_or_bytes)
    with pytest.raises(InvalidMessage) as caught:
        parse_transaction(data)
    return caught.value


def test_valid_message_is_parsed_exactly():
    tx = parse_transaction(encode(valid_record(0)))
    assert tx == (
        "test:000000",
        "02428050",
        "P00000",
        "Books",
        "332.00",
        "10",
        "298.80",
        "UPI",
        "2024-01-01",
        1_764_969_232_076,
        29880,
    )


@pytest.mark.parametrize(("data", "stage", "reason"), invalid_messages())
def test_each_invalid_kind_has_its_stage_and_reason(data, stage, reason):
    error = reject(data)
    assert (error.stage, error.reason) == (stage, reason)
    assert error.detail


def test_too_large_is_checked_before_parsing():
    just_fits = b'"' + b"a" * (MAX_MESSAGE_BYTES - 2) + b'"'
    assert reject(just_fits).reason == "invalid_json"  # parsed: a string, not an object
    assert reject(just_fits + b" ").reason == "too_large"


def test_missing_field_names_every_missing_field():
    record = valid_record(1)
    del record["price"], record["event_time"]
    error = reject(record)
    assert error.reason == "missing_field"
    assert error.detail == "missing: price, event_time"


@pytest.mark.parametrize(
    ("field", "good", "bad", "reason"),
    [
        ("transaction_id", "run-1:000.2_x", "x" * 65, "bad_transaction_id"),
        ("transaction_id", "a", "", "bad_transaction_id"),
        ("user_id", "u" * 64, "u" * 65, "bad_user_id"),
        ("user_id", "98857e41", "tab\there", "bad_user_id"),
        ("user_id", "02428050", "", "bad_user_id"),
        ("product_id", "P1", "", "bad_product_id"),
        ("category", "Books", "   ", "bad_category"),
        ("payment_method", "UPI", ["UPI"], "bad_payment_method"),
        ("purchase_date", "2024-02-29", "2023-02-29", "bad_purchase_date"),
        ("purchase_date", "2024-01-05", "20240105", "bad_purchase_date"),
        ("event_time", "1970-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z", "bad_event_time"),
        ("event_time", "2025-12-05T21:13:52.076Z", "2025-12-05T21:13:52.076+00:00", "bad_event_time"),
        ("event_time", "2025-12-05T21:13:52.076Z", "2025-12-05T21:13:52.0761Z", "bad_event_time"),
        ("event_time", "2025-12-05T21:13:52.076Z", 1764969232076, "bad_event_time"),
    ],
)
def test_field_rules(field, good, bad, reason):
    parse_transaction(encode(valid_record(3, **{field: good})))
    assert reject(valid_record(3, **{field: bad})).reason == reason


@pytest.mark.parametrize(
    ("price", "discount", "final", "stored_price", "stored_final"),
    [
        ("332", 10, "298.8", "332.00", "298.80"),
        (332, 10, 298.8, "332.00", "298.80"),
        ("244.8", 15, "208.08", "244.80", "208.08"),
        ("0", 0, 0, "0.00", "0.00"),
        ("100.005", 0, "100.01", "100.01", "100.01"),  # rounded half up to 2 decimals
        ("10", 12.5, "8.75", "10.00", "8.75"),
        ("10", 0, "10.01", "10.00", "10.01"),  # within 0.01
    ],
)
def test_money_forms_and_rounding(price, discount, final, stored_price, stored_final):
    tx = parse_transaction(encode(valid_record(4, price=price, discount_pct=discount, final_price=final)))
    assert (tx.price, tx.final_price) == (stored_price, stored_final)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"price": "-0.01"}, "bad_price"),
        ({"price": "1e3"}, "bad_price"),
        ({"price": "NaN"}, "bad_price"),
        ({"price": True}, "bad_price"),
        ({"price": "10", "discount_pct": -1, "final_price": "10"}, "bad_discount"),
        ({"price": "10", "discount_pct": True, "final_price": "10"}, "bad_discount"),
        ({"price": "10", "discount_pct": 0, "final_price": "10.02"}, "final_price_mismatch"),
        ({"price": "10", "discount_pct": 0, "final_price": "-10"}, "bad_final_price"),
    ],
)
def test_money_rejections(overrides, reason):
    assert reject(valid_record(5, **overrides)).reason == reason


def test_non_finite_json_number_is_rejected():
    data = encode(valid_record(5)).replace(b'"price":"0"', b'"price":1e999')
    assert b"1e999" in data
    assert reject(data).reason in {"invalid_json", "bad_price"}


def test_discount_is_stored_as_shortest_exact_text():
    assert parse_transaction(encode(valid_record(0, discount_pct=10.0))).discount == "10"
    tx = parse_transaction(encode(valid_record(0, price="10", discount_pct=12.5, final_price="8.75")))
    assert tx.discount == "12.5"


def test_unknown_fields_are_ignored_for_forward_compatibility():
    """A later producer's extra fields change nothing: the same transaction as without them."""
    plain = parse_transaction(encode(valid_record(0)))
    assert parse_transaction(encode(valid_record(0, coupon="XMAS"))) == plain
    assert parse_transaction(encode(valid_record(0, coupon={"code": "XMAS"}, channel=None, user="x#y"))) == plain


@pytest.mark.parametrize(
    ("user_id", "valid"),
    [
        ("02428050", True),
        ("u" * 64, True),
        ("ação ☃", True),
        ("", False),
        ("u" * 65, False),
        ("a#b", False),
        ("tab\there", False),
        ("nul\x00", False),
        ("del\x7f", False),
        ("c1\x85", False),
        (2428050, False),
        (["u1"], False),
    ],
)
def test_the_user_id_rule_is_one_public_function(user_id, valid):
    """``is_valid_user_id`` is the rule ``validate_record`` applies (and the lookup tool too)."""
    assert is_valid_user_id(user_id) is valid
    record = valid_record(0, user_id=user_id)
    if valid:
        assert parse_transaction(encode(record)).user_id == user_id
    else:
        error = reject(record)
        assert (error.reason, error.detail.split(", got ")[0]) == (
            "bad_user_id",
            f"expected a string of {USER_ID_RULE}",
        )


def test_ids_stay_strings():
    tx = parse_transaction(orjson.dumps(valid_record(0, user_id="02428050")))
    assert tx.user_id == "02428050"
    assert parse_transaction(encode(valid_record(0, user_id="98857e41"))).user_id == "98857e41"


@pytest.mark.parametrize(("cents", "text"), [(0, "0.00"), (5, "0.05"), (33200, "332.00"), (24480, "244.80")])
def test_format_cents(cents, text):
    assert format_cents(cents) == text
