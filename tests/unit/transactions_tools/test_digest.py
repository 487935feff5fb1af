"""A table's fingerprint: the same rows, cells and timestamps give the same digest, in whatever
order the client hands the families and columns over, and any difference changes it.

The Bigtable client is a stand-in (``transactions_wire.clients.bigtable_admin`` replaced) that
serves scripted rows: the digest is a pure function of what ``read_rows`` yields. Real tables
compared by it: ``tests/integration/test_backfill_emulator.py``, ``test_chaos_emulator.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from transactions_tools import digest
from transactions_wire import clients

WHEN = datetime(2025, 12, 5, 21, 13, 52, 76_000, tzinfo=UTC)


@dataclass
class Cell:
    value: bytes
    timestamp: datetime


@dataclass
class Row:
    row_key: bytes
    cells: dict[str, dict[bytes, list[Cell]]]


class Client:
    def __init__(self, rows: list[Row], opened: list[tuple[str, ...]]) -> None:
        self._rows, self._opened = rows, opened

    def instance(self, instance: str) -> Any:
        client = self

        class Instance:
            def table(self, name: str) -> Any:
                client._opened.append((instance, name))

                class Table:
                    def read_rows(self) -> list[Row]:
                        return client._rows

                return Table()

        return Instance()


def serve(monkeypatch: pytest.MonkeyPatch, rows: list[Row]) -> list[tuple[str, ...]]:
    opened: list[tuple[str, ...]] = []

    @contextmanager
    def bigtable_admin(project: str) -> Iterator[Client]:
        opened.append((project,))
        yield Client(rows, opened)

    monkeypatch.setattr(clients, "bigtable_admin", bigtable_admin)
    return opened


def two_rows(*, first_columns_reversed: bool = False, value: bytes = b"Books", when: datetime = WHEN) -> list[Row]:
    columns = {b"category": [Cell(value, when)], b"price": [Cell(b"332.00", when)]}
    if first_columns_reversed:
        columns = dict(reversed(columns.items()))
    return [
        Row(b"u1#1#t:1", {"dados": columns, "agg": {b"count": [Cell(b"1", when)]}}),
        Row(b"u1#2#t:2", {"dados": {b"price": [Cell(b"0.05", when)]}}),
    ]


def test_the_fingerprint_of_a_table_is_its_row_count_and_a_sha256(monkeypatch):
    opened = serve(monkeypatch, two_rows())
    rows, sha = digest.table_digest("transacoes", project="my-project", instance="inst-1")
    assert opened == [("my-project",), ("inst-1", "transacoes")]
    assert rows == 2
    # sha256 of b"u1#1#t:1|agg:b'count'=b'1'@2025-12-05T21:13:52.076000+00:00|dados:..." and so on
    assert sha == "f9b9d08a88d9ffe5f76afccb0cd97f72bf259238e0efebf8dfdee53f3372ff0c"


def test_the_order_a_client_hands_columns_over_changes_nothing(monkeypatch):
    serve(monkeypatch, two_rows())
    first = digest.table_digest("t")
    serve(monkeypatch, two_rows(first_columns_reversed=True))
    assert digest.table_digest("t") == first


@pytest.mark.parametrize("change", [{"value": b"Toys"}, {"when": WHEN.replace(microsecond=77_000)}])
def test_a_different_value_or_timestamp_is_a_different_table(monkeypatch, change):
    serve(monkeypatch, two_rows())
    same = digest.table_digest("t")
    serve(monkeypatch, two_rows(**change))
    other = digest.table_digest("t")
    assert other[0] == same[0] and other[1] != same[1]


def test_an_empty_table(monkeypatch):
    serve(monkeypatch, [])
    assert digest.table_digest("t") == (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
