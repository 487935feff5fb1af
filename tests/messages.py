"""Contract-v1 messages for tests: valid ones, and invalid ones of every kind with their reason."""

from __future__ import annotations

import orjson

BASE_EVENT_MS = 1_764_969_232_076  # 2025-12-05T21:13:52.076Z


def event_time(ms: int) -> str:
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def valid_record(index: int, **overrides) -> dict:
    """A valid transaction; users repeat every 7 so users have several rows."""
    users = ["02428050", "98857e41", "00001234", "U7", "abc-DEF", "17", "0"]
    price = ["332", "244.8", "99.99", "1000", "15.5", "0", "7.25"][index % 7]
    discount = [10, 0, 50, 15, 20, 25, 30][index % 7]
    price_cents = round(float(price) * 100)
    final = round(price_cents * (100 - discount) / 100) / 100
    record = {
        "transaction_id": f"test:{index:06d}",
        "user_id": users[index % 7],
        "product_id": f"P{index:05d}",
        "category": ["Books", "Sports", "Beauty", "Toys", "Clothing", "Home & Kitchen", "Electronics"][index % 7],
        "price": price,
        "discount_pct": discount,
        "final_price": f"{final:.2f}".rstrip("0").rstrip("."),
        "payment_method": ["UPI", "Credit Card", "Debit Card", "Net Banking", "Cash on Delivery"][index % 5],
        "purchase_date": f"2024-{index % 12 + 1:02d}-{index % 28 + 1:02d}",
        "event_time": event_time(BASE_EVENT_MS + index * 1000),
    }
    record.update(overrides)
    return record


def encode(record: dict) -> bytes:
    return orjson.dumps(record)


def attributes_of(record: dict) -> dict[str, str]:
    return {
        "transaction_id": str(record.get("transaction_id", "")),
        "event_time": str(record.get("event_time", "")),
    }


def _without(record: dict, field: str) -> dict:
    return {k: v for k, v in record.items() if k != field}


def invalid_messages() -> list[tuple[bytes, str, str]]:
    """(data, stage, reason) for 20 invalid messages of varied kinds."""
    r = valid_record
    cases = [
        (b"{not json", "parse", "invalid_json"),
        (b"\xff\xfe\x00garbage", "parse", "invalid_json"),
        (b"[1, 2, 3]", "parse", "invalid_json"),
        (b"{" + b'"x": "' + b"a" * (1024 * 1024) + b'"}', "parse", "too_large"),
        (encode(_without(r(901), "user_id")), "validate", "missing_field"),
        (encode(r(902, price=None)), "validate", "missing_field"),
        (encode(r(903, transaction_id="has space")), "validate", "bad_transaction_id"),
        (encode(r(904, user_id="a#b")), "validate", "bad_user_id"),
        (encode(r(905, user_id=2428050)), "validate", "bad_user_id"),
        (encode(r(906, product_id="  ")), "validate", "bad_product_id"),
        (encode(r(907, category="")), "validate", "bad_category"),
        (encode(r(908, price="-5", final_price="-4.5")), "validate", "bad_price"),
        (encode(r(909, price="abc")), "validate", "bad_price"),
        (encode(r(910, discount_pct=150)), "validate", "bad_discount"),
        (encode(r(911, discount_pct="10")), "validate", "bad_discount"),
        (encode(r(912, final_price="1.00")), "validate", "final_price_mismatch"),
        (encode(r(913, final_price=True)), "validate", "bad_final_price"),
        (encode(r(914, payment_method=7)), "validate", "bad_payment_method"),
        (encode(r(915, purchase_date="05-12-2024")), "validate", "bad_purchase_date"),
        (encode(r(916, event_time="2025-12-05T21:13:52Z")), "validate", "bad_event_time"),
    ]
    assert len(cases) == 20
    return cases
