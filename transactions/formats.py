"""Money and time as they are written: in Bigtable cells, messages and dead letters.

Money is whole cents internally, so sums and comparisons are exact, and text with exactly two
decimals outside (``33200`` -> ``332.00``). Times are RFC 3339 UTC with milliseconds
(``2025-12-05T21:13:52.076Z``), the form of ``event_time`` in contract v1.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache

MAX_EVENT_MS = 9_999_999_999_999
"""The largest event time a 13-digit reversed timestamp can hold (year 2286): the contract's
upper bound on ``event_time``, and the Bigtable layout's on its reversed key timestamp."""

_RFC3339_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def format_cents(cents: int) -> str:
    """Money as stored: always two decimals (``33200`` -> ``332.00``)."""
    return f"{cents // 100}.{cents % 100:02d}"


def format_discount(value: int | float) -> str:
    """A discount as the shortest exact text: ``10``, ``12.5`` (never ``10.0``)."""
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() else repr(value)


def rfc3339_ms(moment: datetime) -> str:
    """``2025-12-05T21:13:52.076Z`` (the moment must be UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms_to_rfc3339(epoch_ms: int) -> str:
    """Milliseconds since the epoch as RFC 3339 UTC with milliseconds."""
    return rfc3339_ms(_EPOCH + epoch_ms * _ONE_MS)


def rfc3339_ms_to_epoch_ms(text: str) -> int | None:
    """The epoch milliseconds of exactly ``YYYY-MM-DDTHH:MM:SS.mmmZ``, or None for any other text."""
    if not _RFC3339_MS.fullmatch(text):
        return None
    second = _epoch_second_ms(text[:19])
    return None if second is None else second + int(text[20:23])


@lru_cache(maxsize=4096)
def _epoch_second_ms(text: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS`` in epoch ms, or None for an impossible date; cached, since a stream's
    messages share their second and a backfill's their day."""
    try:
        moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return None
    return (moment - _EPOCH) // _ONE_MS


class EventClock:
    """``now`` as RFC 3339 with milliseconds, formatting the date and time once per second.

    A producer stamps every message with the time it sends it; ``strftime`` for each one was
    a large share of its CPU, while only the milliseconds change between most messages.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        ms = time.time_ns() // 1_000_000
        second, millis = divmod(ms, 1000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        return f"{self._prefix}{millis:03d}Z"
