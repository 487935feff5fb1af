"""Dead-letter records: original bytes and attributes kept, error attributes added and bounded."""

from datetime import UTC, datetime

from transactions.dead_letters import DETAIL_MAX_CHARS, dead_letter


def test_original_data_and_attributes_are_kept():
    letter = dead_letter(
        b"\x00raw",
        {"transaction_id": "t1", "event_time": "x"},
        "validate",
        "bad_price",
        "detail",
        failed_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    )
    assert letter.data == b"\x00raw"
    assert letter.attributes == {
        "transaction_id": "t1",
        "event_time": "x",
        "error_stage": "validate",
        "error_reason": "bad_price",
        "error_detail": "detail",
        "failed_at": "2026-01-02T03:04:05.678Z",
    }


def test_previous_error_attributes_are_replaced():
    first = dead_letter(b"x", None, "parse", "invalid_json", "a")
    second = dead_letter(first.data, first.attributes, "write", "bigtable_not_found", "b")
    assert (second.attributes["error_stage"], second.attributes["error_reason"]) == (
        "write",
        "bigtable_not_found",
    )


def test_detail_is_at_most_1000_chars_and_fits_an_attribute():
    assert len(dead_letter(b"", None, "parse", "r", "x" * 5000).attributes["error_detail"]) == DETAIL_MAX_CHARS
    wide = dead_letter(b"", None, "parse", "r", "é" * 900).attributes["error_detail"]
    assert len(wide.encode()) <= 1024


def test_a_dead_letter_too_big_for_pub_sub_keeps_what_fits_and_says_so():
    """Otherwise it could never be published, and its bundle would fail forever."""
    import hashlib

    from transactions.dead_letters import MAX_DEAD_LETTER_BYTES

    data = bytes(range(256)) * 40_000  # 10,240,000 bytes: a message at Pub/Sub's own limit
    letter = dead_letter(data, {"transaction_id": "t1"}, "parse", "too_large", "message is 10240000 bytes")
    size = len(letter.data) + sum(len(k.encode()) + len(v.encode()) for k, v in letter.attributes.items())
    assert size == MAX_DEAD_LETTER_BYTES
    assert letter.data == data[: len(letter.data)]
    assert letter.attributes["error_data_truncated_from"] == "10240000"
    assert letter.attributes["error_data_sha256"] == hashlib.sha256(data).hexdigest()
    assert letter.attributes["transaction_id"] == "t1" and letter.attributes["error_reason"] == "too_large"


def test_a_dead_letter_that_fits_is_not_marked():
    letter = dead_letter(b"x" * 1_000_000, None, "parse", "too_large", "d")
    assert len(letter.data) == 1_000_000 and "error_data_truncated_from" not in letter.attributes
