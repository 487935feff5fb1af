"""Money and time as they are written: exact text both ways, and every malformed time refused."""

from datetime import UTC, datetime

import pytest

from transactions import formats


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0.00"), (5, "0.05"), (10, "0.10"), (33200, "332.00"), (24480, "244.80"), (10**17, "1000000000000000.00")],
)
def test_money_has_exactly_two_decimals(cents, text):
    assert formats.format_cents(cents) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(10, "10"), (0, "0"), (10.0, "10"), (12.5, "12.5"), (0.1, "0.1"), (99.99, "99.99"), (100.0, "100")],
)
def test_a_discount_is_its_shortest_exact_text(value, text):
    assert formats.format_discount(value) == text


@pytest.mark.parametrize(
    ("epoch_ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_764_969_232_076, "2025-12-05T21:13:52.076Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (9_999_999_999_999, "2286-11-20T17:46:39.999Z"),
    ],
)
def test_epoch_ms_and_rfc3339_are_each_others_inverse(epoch_ms, text):
    assert formats.epoch_ms_to_rfc3339(epoch_ms) == text
    assert formats.rfc3339_ms_to_epoch_ms(text) == epoch_ms


def test_rfc3339_ms_of_a_utc_moment_drops_the_microseconds():
    assert formats.rfc3339_ms(datetime(2025, 12, 5, 21, 13, 52, 76_999, tzinfo=UTC)) == "2025-12-05T21:13:52.076Z"


@pytest.mark.parametrize(
    "text",
    [
        "2025-12-05T21:13:52Z",  # no milliseconds
        "2025-12-05T21:13:52.07Z",
        "2025-12-05T21:13:52.0761Z",
        "2025-12-05T21:13:52.076+00:00",  # UTC, but not written with Z
        "2025-12-05 21:13:52.076Z",
        "2025-12-05t21:13:52.076z",
        "2025-02-30T00:00:00.000Z",  # no such day
        "2025-12-05T24:00:00.000Z",
        "2025-12-05T21:60:00.000Z",
        "２０２５-12-05T21:13:52.076Z",  # digits, but not ASCII ones
        "",
    ],
)
def test_any_other_text_is_not_a_time(text):
    assert formats.rfc3339_ms_to_epoch_ms(text) is None


def test_the_event_clock_formats_the_second_once_and_the_milliseconds_each_time(monkeypatch):
    """``time.time_ns`` scripted: the same second reuses its prefix, a new second makes a new one."""
    moments = iter([1_764_969_232_076_000_123, 1_764_969_232_999_999_999, 1_764_969_233_000_000_000, 0])
    monkeypatch.setattr(formats.time, "time_ns", lambda: next(moments))
    clock = formats.EventClock()
    assert [clock.now() for _ in range(4)] == [
        "2025-12-05T21:13:52.076Z",
        "2025-12-05T21:13:52.999Z",
        "2025-12-05T21:13:53.000Z",
        "1970-01-01T00:00:00.000Z",
    ]
