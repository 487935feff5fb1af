"""Dead-letter records: original bytes and attributes kept, error attributes added and bounded."""

from datetime import UTC, datetime

from template.dead_letters import DETAIL_MAX_CHARS, dead_letter


def test_original_data_and_attributes_are_kept():
    letter = dead_letter(
        b"\x00raw", {"transaction_id": "t1", "event_time": "x"}, "validate", "bad_price", "detail",
        failed_at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    )  # fmt: skip
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
