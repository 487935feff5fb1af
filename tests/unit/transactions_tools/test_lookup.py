"""``transacoes-lookup``: what it refuses before reaching Bigtable, and what it makes of the rows.

Reading is tested against a stand-in table (``read_rows`` returns scripted rows and records its
arguments): the scans' key ranges are the contract's (``transactions.layout``,
``transactions.rollup_layout``), and what the real client returns for them is covered on the
emulator by ``tests/integration/test_demo.py`` and ``test_rollups_emulator.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.output import one_clean_line
from transactions import layout, rollup_layout
from transactions_tools import lookup

EVENT_MS = 1_764_969_232_076  # 2025-12-05T21:13:52.076Z
MINUTE_MS = 1_764_969_180_000  # 2025-12-05T21:13:00Z


@dataclass
class Cell:
    family: str
    qualifier: bytes
    value: bytes


@dataclass
class Row:
    row_key: bytes
    cells: list[Cell]


@dataclass
class FakeTable:
    """What the data client's ``Table.read_rows`` gives back, scripted: rows, or an exception
    (``raises``) for as many calls as it is given; each call's arguments are kept."""

    rows: list[Row]
    calls: list[dict[str, Any]] = field(default_factory=list)
    raises: list[Exception] = field(default_factory=list)

    def read_rows(self, query: Any, **kwargs: Any) -> list[Row]:
        self.calls.append({"query": query, **kwargs})
        if self.raises:
            raise self.raises.pop(0)
        return self.rows


class Opened:
    """``lookup.open_table``'s stand-in: the fake table, and the names it was opened with."""

    def __init__(self, table: FakeTable) -> None:
        self.table = table
        self.names: list[tuple[str, ...]] = []

    @contextmanager
    def __call__(self, *names: str) -> Iterator[FakeTable]:
        self.names.append(names)
        yield self.table


def transaction_row(user_id: str, event_ms: int, transaction_id: str, category: str = "Books") -> Row:
    values = [b"P1", category.encode(), b"332.00", b"10", b"298.80", b"UPI", b"2024-01-01"]
    old = [Cell(layout.FAMILY, q, b"an older version") for q in layout.QUALIFIERS]
    newest = [Cell(layout.FAMILY, q, v) for q, v in zip(layout.QUALIFIERS, values, strict=True)]
    cells = [cell for pair in zip(newest, old, strict=True) for cell in pair]  # newest first in each column
    return Row(layout.row_key(user_id, event_ms, transaction_id), cells)


def rollup_row(rollup: rollup_layout.Rollup, name: str, start_ms: int, count: int, cents: int) -> Row:
    cells = [Cell(rollup_layout.FAMILY, q, v) for q, v in rollup_layout.cells(rollup, count, cents)]
    return Row(rollup_layout.rollup_key(rollup, name, start_ms), cells)


def ranges(call: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    return [(r.start_key, r.end_key) for r in call["query"].row_ranges]


def exit_code(argv: list[str]) -> int:
    try:
        return lookup.main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


@pytest.fixture
def no_bigtable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused input must never reach Bigtable: opening a table fails the test."""

    def refuse(*args: object) -> None:
        raise AssertionError(f"opened a table for a refused input: {args}")

    monkeypatch.setattr(lookup, "open_table", refuse)


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["tab\there"],
            "error: 'tab\\there' is not a user id (1-64 characters without '#' or control characters)",
        ),
        (
            ["esc\x1b[2J"],
            "error: 'esc\\x1b[2J' is not a user id (1-64 characters without '#' or control characters)",
        ),
        (
            ["a#b"],
            "error: 'a#b' is not a user id (1-64 characters without '#' or control characters)",
        ),
        (
            ["u" * 65],
            f"error: '{'u' * 65}' is not a user id (1-64 characters without '#' or control characters)",
        ),
        (
            ["--user-days", "nul\x00"],
            "error: --user-days: 'nul\\x00' is not a user id (1-64 characters without '#' or control characters)",
        ),
    ],
)
def test_a_user_id_that_breaks_the_contract_is_refused_in_one_line(argv, says, capsys, no_bigtable):
    """The contract's rule (``contract.is_valid_user_id``), not a weaker copy: a control
    character is refused as surely as a ``#``, exit code 2, before any table is opened."""
    assert exit_code(argv) == 2
    captured = capsys.readouterr()
    assert one_clean_line(captured.err, 300) == says
    assert captured.out == ""


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "transacoes-lookup: error: give exactly one of: a user id, --category NAME, --user-days USER_ID"),
        (["u1", "--category", "Books"], "give exactly one of"),
        (["--category", "  "], "transacoes-lookup: error: the category or user id must not be blank (see --help)"),
        (["u1", "--table", "a b"], "transacoes-lookup: error: --table: 'a b' is not a table id"),
        (["--category", "Books", "--until", "yesterday"], "--until: 'yesterday' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM"),
    ],
)
def test_other_refusals_are_one_line_and_exit_2(argv, says, capsys, no_bigtable):
    assert exit_code(argv) == 2
    assert says in one_clean_line(capsys.readouterr().err, 300)


def test_a_users_transactions_are_one_prefix_scan_newest_first(monkeypatch, capsys):
    table = FakeTable(
        [transaction_row("u1", EVENT_MS + 1000, "t:2"), transaction_row("u1", EVENT_MS, "t:1", category="Toys")]
    )
    opened = Opened(table)
    monkeypatch.setattr(lookup, "open_table", opened)
    assert lookup.main(["u1", "--limit", "2", "--project", "my-project", "--instance", "inst-1", "--json"]) == 0
    assert opened.names == [("my-project", "inst-1", "transacoes")]
    [call] = table.calls
    assert ranges(call) == [(b"u1#", b"u1$")]
    assert call["query"].limit == 2
    assert (call["operation_timeout"], call["attempt_timeout"]) == (20.0, 10.0)
    assert {error.__name__ for error in call["retryable_errors"]} == {
        "ServiceUnavailable",
        "ResourceExhausted",
        "DeadlineExceeded",
        "Aborted",
    }
    document = json.loads(capsys.readouterr().out)
    assert document["user_id"] == "u1"
    assert document["transactions"][1] == {
        "product_id": "P1",
        "category": "Toys",
        "price": "332.00",
        "discount": "10",
        "final_price": "298.80",
        "payment": "UPI",
        "purchase_date": "2024-01-01",
        "event_time": "2025-12-05 21:13:52.076",
        "transaction_id": "t:1",
    }
    assert [r["transaction_id"] for r in document["transactions"]] == ["t:2", "t:1"]


def test_a_rollups_windows_keep_only_that_name_newest_first():
    """A key range of category ``Books`` may hold ``Books#2``'s rows: they are left out."""
    rollup = rollup_layout.CATEGORY_MINUTE
    table = FakeTable(
        [
            rollup_row(rollup, "Books", MINUTE_MS, 3, 1050),
            rollup_row(rollup, "Books#2", MINUTE_MS, 9, 9999),
            rollup_row(rollup, "Books", MINUTE_MS + 60_000, 1, 5),
        ]
    )
    found = lookup.rollup_windows(table, rollup, "Books", 2, MINUTE_MS + 60_000 + 59_999)
    assert ranges(table.calls[0]) == [(b"category#Books#202512052113", b"category#Books#202512052114\x00")]
    assert table.calls[0]["query"].filter == lookup.totals_only()
    assert found == [
        {
            "count": "1",
            "revenue": "0.05",
            "window": "2025-12-05 21:14",
            "category": "Books",
            "start_ms": "1764969240000",
        },
        {
            "count": "3",
            "revenue": "10.50",
            "window": "2025-12-05 21:13",
            "category": "Books",
            "start_ms": "1764969180000",
        },
    ]


def test_a_users_days_are_shown_by_day():
    rollup = rollup_layout.USER_DAY
    day_ms = 1_764_892_800_000  # 2025-12-05T00:00Z
    table = FakeTable([rollup_row(rollup, "u1", day_ms, 2, 59760)])
    found = lookup.rollup_windows(table, rollup, "u1", 7, day_ms + 3_600_000)
    assert ranges(table.calls[0]) == [(b"user#u1#20251129", b"user#u1#20251205\x00")]
    assert found == [
        {"count": "2", "spend": "597.60", "window": "2025-12-05", "user_id": "u1", "start_ms": str(day_ms)}
    ]


def test_every_categorys_recent_minutes_newest_then_by_name():
    rollup = rollup_layout.CATEGORY_MINUTE
    table = FakeTable(
        [
            rollup_row(rollup, "Toys", MINUTE_MS, 1, 100),
            rollup_row(rollup, "Books", MINUTE_MS, 2, 200),
            rollup_row(rollup, "Books", MINUTE_MS + 60_000, 3, 300),
            rollup_row(rollup, "Books", MINUTE_MS - 60_000, 4, 400),  # before the 2 minutes asked for
            rollup_row(rollup, "Books", MINUTE_MS + 120_000, 5, 500),  # after --until
        ]
    )
    found = lookup.latest_category_minutes(table, 2, MINUTE_MS + 60_000 + 30_000)
    assert ranges(table.calls[0]) == [(b"category#", b"category$")]
    assert [(r["window"], r["category"], r["count"]) for r in found] == [
        ("2025-12-05 21:14", "Books", "3"),
        ("2025-12-05 21:13", "Books", "2"),
        ("2025-12-05 21:13", "Toys", "1"),
    ]


def test_a_table_escapes_and_bounds_every_cell():
    text = lookup.format_table(
        [{"window": "w1", "category": "A\x1b[2J", "count": "7"}, {"window": "w2", "category": "x" * 100}],
        ("window", "category", "count"),
    )
    assert text.splitlines()[:3] == [
        "window  " + "category".ljust(60) + "  count",
        "------  " + "-" * 60 + "  -----",
        "w1      " + "A\\x1b[2J".ljust(60) + "  7    ",
    ]
    assert len(text.splitlines()[3]) == 8 + 60 + 2 + 5


@pytest.mark.parametrize(
    ("text", "epoch_ms"),
    [
        ("2025-12-05", 1_764_892_800_000),
        ("2025-12-05T21:13", MINUTE_MS),
        ("2025-12-05T21:13+01:00", MINUTE_MS - 3_600_000),
    ],
)
def test_until_is_utc_unless_it_says_otherwise(text, epoch_ms):
    assert lookup.parse_until(text) == epoch_ms


@pytest.mark.parametrize("text", ["0001-01-01", "9999-12-31", "2025-13-01", "soon"])
def test_until_out_of_range_or_malformed_is_an_error(text):
    with pytest.raises(ValueError):
        lookup.parse_until(text)


def test_display_time_is_utc_with_milliseconds():
    assert lookup.display_time(EVENT_MS) == "2025-12-05 21:13:52.076"
    assert lookup.display_time(0) == "1970-01-01 00:00:00.000"


def test_a_cluster_busy_past_the_timeout_is_one_line_with_the_code_and_the_time(monkeypatch, capsys):
    """The data client gives up with DEADLINE_EXCEEDED, caused by the attempts' errors: the line
    names the code the cluster kept answering, not the deadline, and how long it was tried."""
    from google.api_core import exceptions as api_exceptions
    from google.cloud.bigtable.data.exceptions import RetryExceptionGroup

    busy: list[Exception] = [api_exceptions.ResourceExhausted("the cluster is overloaded")] * 3
    gave_up = api_exceptions.DeadlineExceeded("operation_timeout of 2.0s exceeded")
    gave_up.__cause__ = RetryExceptionGroup(busy)
    table = FakeTable([], raises=[gave_up])
    monkeypatch.setattr(lookup, "open_table", Opened(table))
    assert lookup.main(["u1", "--timeout", "2"]) == 1
    line = one_clean_line(capsys.readouterr().err, 400)
    assert line.startswith("error: Bigtable kept answering RESOURCE_EXHAUSTED for 0s (3 attempts; the last: ")
    assert "the cluster is overloaded" in line and line.endswith("try again, or give more --timeout")
    assert table.calls[0]["operation_timeout"] == 2.0
