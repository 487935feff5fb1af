"""The Bigtable layout of the live rollups: their family, row keys (and inverse) and cells.

Two rollups, in event time (UTC), in the rollups table's family ``agg``:

- per category and minute, ``category#<category>#<YYYYMMDDHHMM>``: ``count``, ``revenue``;
- per user and day, ``user#<user_id>#<YYYYMMDD>``: ``count``, ``spend``.

A category may contain ``#``, so a key is read from the right: the time suffix has a fixed
width and never contains ``#``. ``count`` is a decimal integer; ``revenue`` and ``spend`` are
sums of ``final_price`` in whole cents, written with two decimals. Each cell's timestamp is
the end of its window, so every firing of a window rewrites the same cells and, with one
version kept, a reader sees one current total. Design notes: ``docs/rollups.md``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from transactions.formats import format_cents

FAMILY = "agg"
"""The column family of the rollup cells (garbage collection: keep one version)."""

SEPARATOR = "#"
COUNT = b"count"


class Rollup(NamedTuple):
    """One kind of rollup: its key prefix, what it is keyed by, window, time-suffix form, money cell."""

    name: str
    prefix: str
    keyed_by: str
    """The transaction field whose value follows the prefix: ``category`` or ``user_id``."""
    window_seconds: int
    time_format: str
    money: bytes


CATEGORY_MINUTE = Rollup("category_minute", "category", "category", 60, "%Y%m%d%H%M", b"revenue")
USER_DAY = Rollup("user_day", "user", "user_id", 86_400, "%Y%m%d", b"spend")
ROLLUPS = (CATEGORY_MINUTE, USER_DAY)
_BY_PREFIX = {rollup.prefix: rollup for rollup in ROLLUPS}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RollupKey(NamedTuple):
    """A rollup row key, taken apart: which rollup, whose (a category or a user), which window."""

    rollup: Rollup
    name: str
    start_ms: int


def window_start_ms(rollup: Rollup, event_time_ms: int) -> int:
    """The start of the window (minute or UTC day) that holds ``event_time_ms``."""
    size = rollup.window_seconds * 1000
    return event_time_ms - event_time_ms % size


def _stamp(rollup: Rollup, start_ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=start_ms)).strftime(rollup.time_format)


def rollup_key(rollup: Rollup, name: str, start_ms: int) -> bytes:
    """``category#<category>#<YYYYMMDDHHMM>`` or ``user#<user_id>#<YYYYMMDD>``."""
    return f"{rollup.prefix}{SEPARATOR}{name}{SEPARATOR}{_stamp(rollup, start_ms)}".encode()


def parse_rollup_key(key: bytes) -> RollupKey:
    """The inverse of :func:`rollup_key`, reading from the right; ``ValueError`` for another form."""
    text = key.decode()
    prefix, _, rest = text.partition(SEPARATOR)
    name, _, stamp = rest.rpartition(SEPARATOR)
    rollup = _BY_PREFIX.get(prefix)
    if rollup is None or not name or len(stamp) != len(_stamp(rollup, 0)) or not stamp.isdigit():
        raise ValueError(f"not a rollup row key: {key!r}")
    start = datetime.strptime(stamp, rollup.time_format).replace(tzinfo=UTC)
    return RollupKey(rollup, name, (start - _EPOCH) // timedelta(milliseconds=1))


def key_range(rollup: Rollup, name: str, first_start_ms: int, last_start_ms: int) -> tuple[bytes, bytes]:
    """``(start, end)`` keys (end exclusive) of ``name``'s windows from the first to the last start.

    A range can also hold another name's rows (category ``A`` and category ``A#1x``), so a
    reader keeps only the rows whose parsed name is ``name``.
    """
    return rollup_key(rollup, name, first_start_ms), rollup_key(rollup, name, last_start_ms) + b"\x00"


def cents(money: bytes) -> int:
    """A stored money cell (``b"332.00"``: always exactly two decimals) as whole cents, exactly."""
    return int(money.replace(b".", b""))


def cells(rollup: Rollup, count: int, total_cents: int) -> tuple[tuple[bytes, bytes], ...]:
    """``count`` and ``revenue`` (or ``spend``), as UTF-8 text."""
    return ((COUNT, str(count).encode()), (rollup.money, format_cents(total_cents).encode()))
