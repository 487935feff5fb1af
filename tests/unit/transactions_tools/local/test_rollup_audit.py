"""The audit that ``make chaos --read-faults`` runs: rows' totals against the rollups, window by
window. Stand-in tables (the classic client's row shape: cells by family and qualifier, newest
first); the audit on the emulator runs in tests/integration/test_chaos_emulator.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from transactions import layout, rollup_layout
from transactions_tools.local import rollup_audit
from transactions_tools.provision import Resources

EVENT_MS = 1_764_969_232_076  # 2025-12-05T21:13:52.076Z
RESOURCES = Resources(
    project="p", instance="i", table="rows", topic="t", subscription="s",
    dead_letter_topic="d", dead_letter_subscription="ds", rollups_table="rollups",
)  # fmt: skip


@dataclass
class Version:
    value: bytes


@dataclass
class Row:
    row_key: bytes
    cells: dict[str, dict[bytes, list[Version]]]


def sale(user: str, category: str, final_price: bytes, transaction_id: str) -> Row:
    cells = {b"category": [Version(category.encode())], b"final_price": [Version(final_price), Version(b"0.01")]}
    return Row(layout.row_key(user, EVENT_MS, transaction_id), {layout.FAMILY: cells})


def total(rollup: rollup_layout.Rollup, name: str, count: int, cents: int) -> Row:
    key = rollup_layout.rollup_key(rollup, name, rollup_layout.window_start_ms(rollup, EVENT_MS))
    newest = {
        qualifier: [Version(value), Version(b"1")] for qualifier, value in rollup_layout.cells(rollup, count, cents)
    }
    return Row(key, {rollup_layout.FAMILY: newest})


class Tables:
    def __init__(self, tables: dict[str, list[Row]]) -> None:
        self.tables = tables

    def instance(self, instance: str) -> Tables:
        return self

    def table(self, name: str) -> Any:
        rows = self.tables[name]
        return type("Table", (), {"read_rows": lambda _self: rows})()


def audit(monkeypatch: pytest.MonkeyPatch, rows: list[Row], rollups: list[Row]) -> tuple[int, list[str]]:
    @contextmanager
    def admin(project: str) -> Iterator[Tables]:
        yield Tables({"rows": rows, "rollups": rollups})

    monkeypatch.setattr(rollup_audit.clients, "bigtable_admin", admin)
    return rollup_audit.mismatched_windows(RESOURCES)


ROWS = [sale("ana", "Books", b"10.50", "t1"), sale("ana", "Books", b"0.05", "t2"), sale("bo", "Toys", b"3.00", "t3")]
EXACT = [
    total(rollup_layout.CATEGORY_MINUTE, "Books", 2, 1055),
    total(rollup_layout.CATEGORY_MINUTE, "Toys", 1, 300),
    total(rollup_layout.USER_DAY, "ana", 2, 1055),
    total(rollup_layout.USER_DAY, "bo", 1, 300),
]


def test_rollups_equal_to_the_rows_totals_pass(monkeypatch):
    assert audit(monkeypatch, ROWS, EXACT) == (4, [])


def test_a_missing_a_wrong_and_an_extra_window_are_each_named(monkeypatch):
    wrong = [
        EXACT[0],
        total(rollup_layout.CATEGORY_MINUTE, "Toys", 1, 299),
        EXACT[2],
        total(rollup_layout.USER_DAY, "cy", 1, 1),
    ]
    windows, lines = audit(monkeypatch, ROWS, wrong)
    assert windows == 4
    assert lines == [
        "category#Toys#202512052113: rows 1 / 300 cents, rollup [1, 299]",
        "user#bo#20251205: rows 1 / 300 cents, rollup None",
        "user#cy#20251205: a rollup with no rows",
    ]


def test_resources_without_a_rollups_table_are_refused():
    with pytest.raises(ValueError, match="no rollups table"):
        rollup_audit.mismatched_windows(Resources(**{**RESOURCES.__dict__, "rollups_table": ""}))
