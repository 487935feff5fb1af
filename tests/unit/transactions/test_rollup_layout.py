"""The live rollups' layout: row keys and their inverse, key ranges, cells, versions, and the
counted ids cut into parts, with exact values."""

import pytest

from transactions import rollup_layout
from transactions.rollup_layout import CATEGORY_MINUTE, USER_DAY, RollupKey

EVENT_MS = 1_764_969_232_076  # 2025-12-05T21:13:52.076Z
MINUTE_MS = 1_764_969_180_000  # 2025-12-05T21:13:00Z
DAY_MS = 1_764_892_800_000  # 2025-12-05T00:00:00Z


def test_windows_start_on_the_minute_and_the_utc_day():
    assert rollup_layout.window_start_ms(CATEGORY_MINUTE, EVENT_MS) == MINUTE_MS
    assert rollup_layout.window_start_ms(USER_DAY, EVENT_MS) == DAY_MS
    assert rollup_layout.window_start_ms(CATEGORY_MINUTE, MINUTE_MS) == MINUTE_MS


@pytest.mark.parametrize(
    ("rollup", "name", "start_ms", "key"),
    [
        (CATEGORY_MINUTE, "Books", MINUTE_MS, b"category#Books#202512052113"),
        (CATEGORY_MINUTE, "Home & Kitchen", 0, b"category#Home & Kitchen#197001010000"),
        (CATEGORY_MINUTE, "A#1", MINUTE_MS, b"category#A#1#202512052113"),
        (USER_DAY, "02428050", DAY_MS, b"user#02428050#20251205"),
        (USER_DAY, "ação", DAY_MS, "user#ação#20251205".encode()),
    ],
)
def test_a_key_and_its_inverse(rollup, name, start_ms, key):
    assert rollup_layout.rollup_key(rollup, name, start_ms) == key
    assert rollup_layout.parse_rollup_key(key) == RollupKey(rollup, name, start_ms)


@pytest.mark.parametrize(
    "key",
    [
        b"category#Books#2025120521",  # a day's stamp under the minute rollup
        b"user#u1#202512052113",  # a minute's stamp under the day rollup
        b"category##202512052113",  # no name
        b"product#P1#202512052113",  # no such rollup
        b"category#Books#2025120521x3",
        b"u1#8235030767923#t:1",  # a transaction row's key
    ],
)
def test_any_other_key_is_refused(key):
    with pytest.raises(ValueError, match="not a rollup row key"):
        rollup_layout.parse_rollup_key(key)


def test_a_key_range_covers_the_first_to_the_last_window():
    start, end = rollup_layout.key_range(CATEGORY_MINUTE, "Books", MINUTE_MS - 60_000, MINUTE_MS)
    assert (start, end) == (b"category#Books#202512052112", b"category#Books#202512052113\x00")
    inside = rollup_layout.rollup_key(CATEGORY_MINUTE, "Books", MINUTE_MS)
    after = rollup_layout.rollup_key(CATEGORY_MINUTE, "Books", MINUTE_MS + 60_000)
    assert start <= inside < end <= after


def test_cells_are_count_and_money_as_text():
    assert rollup_layout.cells(CATEGORY_MINUTE, 3, 1050) == ((b"count", b"3"), (b"revenue", b"10.50"))
    assert rollup_layout.cells(USER_DAY, 1, 5) == ((b"count", b"1"), (b"spend", b"0.05"))


@pytest.mark.parametrize(
    ("money", "cents"), [(b"0.00", 0), (b"0.05", 5), (b"332.00", 33200), (b"12345678.99", 1234567899)]
)
def test_a_money_cell_is_read_back_as_exact_cents(money, cents):
    assert rollup_layout.cents(money) == cents


def test_a_total_that_counts_more_is_a_newer_version():
    end_ms = MINUTE_MS + 60_000
    assert rollup_layout.totals_timestamp_micros(end_ms, 0) == end_ms * 1000
    assert rollup_layout.totals_timestamp_micros(end_ms, 7) == (end_ms + 7) * 1000
    assert rollup_layout.totals_timestamp_micros(end_ms, 8) > rollup_layout.totals_timestamp_micros(end_ms, 7)


def test_ids_qualifiers_sort_by_part():
    assert rollup_layout.ids_qualifier("job-20251205", 0) == b"job-20251205#000"
    assert rollup_layout.ids_qualifier("g", 12) == b"g#012"


def test_sales_are_id_and_cents_lines_read_back_once_each():
    encoded = rollup_layout.encode_sales({"t:1": 29880, "t 2": 5})
    assert encoded == [b"t:1 29880\nt 2 5"]
    into = {"t:1": 1}
    rollup_layout.decode_sales(encoded[0], into)
    assert into == {"t:1": 1, "t 2": 5}  # an id already counted keeps its cents
    rollup_layout.decode_sales(b"", into)
    assert into == {"t:1": 1, "t 2": 5}


def test_many_sales_are_cut_into_parts_at_line_ends(monkeypatch):
    monkeypatch.setattr(rollup_layout, "PART_BYTES", 20)
    sales = {f"t:{n}": n for n in range(6)}  # lines of 5 bytes ("t:0 0"), 35 bytes with the newlines
    parts = rollup_layout.encode_sales(sales)
    assert parts == [b"t:0 0\nt:1 1\nt:2 2", b"t:3 3\nt:4 4\nt:5 5"]
    assert all(len(part) <= 20 for part in parts)
    decoded: dict[str, int] = {}
    for part in parts:
        rollup_layout.decode_sales(part, decoded)
    assert decoded == sales


def test_the_families_and_what_each_rollup_is_keyed_by():
    assert rollup_layout.FAMILIES == ("agg", "ids")
    assert [(r.name, r.prefix, r.keyed_by, r.window_seconds) for r in rollup_layout.ROLLUPS] == [
        ("category_minute", "category", "category", 60),
        ("user_day", "user", "user_id", 86_400),
    ]
