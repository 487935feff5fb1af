"""The Bigtable layout of the live rollups: their families, row keys (and inverse) and cells.

Two rollups, in event time (UTC), one row per window:

- per category and minute, ``category#<category>#<YYYYMMDDHHMM>``;
- per user and day, ``user#<user_id>#<YYYYMMDD>``.

A category may contain ``#``, so a key is read from the right: the time suffix has a fixed
width and never contains ``#``. Each row holds two families (``docs/rollups.md`` says why):

- ``agg``: ``count`` and ``revenue`` (or ``spend``), the exact totals over every transaction
  counted for the window by any writer, each once. ``count`` is a decimal integer; the money is
  the sum of ``final_price`` in whole cents, written with two decimals. Their timestamp is their
  *version*: the window's end plus ``count`` milliseconds (:func:`totals_timestamp_micros`), so
  that a total that counts more transactions always wins, whatever order writers finish in; a
  reader takes the newest cell (one version is kept).
- ``ids``: per writer generation (a job run, or a backfill's files), the transaction ids it
  counted for the window with their cents (:func:`encode_sales`), in parts of at most
  ``PART_BYTES``: qualifier ``<generation>#<part>``. This is what lets a new job, a backfill or
  a late event count each transaction once across everything written before it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from transactions.formats import format_cents

FAMILY = "agg"
"""The column family of the totals (garbage collection: keep one version)."""
IDS_FAMILY = "ids"
"""The column family of each writer generation's counted transactions (keep one version)."""
FAMILIES = (FAMILY, IDS_FAMILY)
PART_BYTES = 1024 * 1024
"""The most bytes of counted transactions in one ``ids`` cell."""
PART_SEPARATOR = "#"

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


@lru_cache(maxsize=4096)
def _stamp(rollup: Rollup, start_ms: int) -> str:
    """A window's start as its key writes it. Cached: a day's or a minute's start stands in the
    keys of every user's or category's window of that day or minute (a backfill writes 100,000
    user-days of one day with one ``strftime``)."""
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


def totals_timestamp_micros(window_end_ms: int, count: int) -> int:
    """The version of a window's totals: its end plus ``count`` ms (Bigtable wants whole ms).

    Transactions are only ever added to a window, so a total that counts more of them is the
    newer truth; stamping by count makes Bigtable keep it, in whichever order two writers' totals
    land. (A total stamped at the window's end, as the first layout did, is older than any.)
    """
    return (window_end_ms + count) * 1000


def ids_qualifier(generation: str, part: int) -> bytes:
    return f"{generation}{PART_SEPARATOR}{part:03d}".encode()


def encode_sales(sales: dict[str, int]) -> list[bytes]:
    """A generation's counted transactions as ``ids`` cell values: ``<id> <cents>`` lines, cut
    into parts of at most ``PART_BYTES`` (one part, formatted in one pass, in the usual case)."""
    text = "\n".join(map("%s %d".__mod__, sales.items())).encode()
    if len(text) <= PART_BYTES:
        return [text]
    parts, start = [], 0
    while start < len(text):
        end = len(text) if len(text) - start <= PART_BYTES else text.rindex(b"\n", start, start + PART_BYTES + 1)
        parts.append(text[start:end])
        start = end + 1
    return parts


def decode_sales(value: bytes, into: dict[str, int]) -> None:
    """Add the transactions of one ``ids`` cell to ``into`` (an id already there keeps its cents)."""
    for line in value.decode().split("\n"):
        if line:
            transaction_id, _, cents = line.rpartition(" ")
            into.setdefault(transaction_id, int(cents))
