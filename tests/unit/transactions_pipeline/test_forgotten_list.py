"""The job's view of the forgotten list: read at setup, again in each new slot of wall-clock time,
once per process however many DoFns share it, through the reader's retry rule; never stale past a
failed read. A scripted connection stands in for Bigtable (the emulator cannot refuse a scan); the
same list through the emulators, in a running job, is tests/integration/test_forget_emulator.py."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions

from transactions import forgotten
from transactions_pipeline.bigtable_connection import Cell, Connection
from transactions_pipeline.bigtable_writer import BigtableTarget, BigtableUnavailable, RetryPolicy
from transactions_pipeline.forgotten_list import ForgottenList

TARGET = BigtableTarget("p", "i", "transacoes_forgotten", forgotten.FAMILY)
AT_MS = 1_764_740_000_000
QUICK = RetryPolicy(operation_timeout_seconds=0.2, initial_backoff_seconds=0.01, max_backoff_seconds=0.02)


class Table:
    """The forgotten table: rows by user, every scan recorded, refusals scripted."""

    def __init__(self) -> None:
        self.users: dict[str, int] = {}
        self.scans = 0
        self.refusals: list[Exception] = []
        self.opened = self.closed = 0

    def scan(self, after: bytes, row_filter: Any, timeout: float) -> Iterator[tuple[bytes, list[Cell]]]:
        self.scans += 1
        if self.refusals:
            raise self.refusals.pop(0)
        for user, at_ms in sorted(self.users.items()):
            if forgotten.row_key(user) > after:
                yield forgotten.row_key(user), [(forgotten.FAMILY, forgotten.COLUMN, forgotten.request_value(at_ms))]

    def connection(self, target: BigtableTarget) -> Connection:
        self.opened += 1

        def close() -> None:
            self.closed += 1

        return Connection(send=lambda *args: iter(()), close=close, scan=self.scan)


class Clock:
    """Wall-clock time, at the start of a slot; a module-level function reads it, so that pickled
    copies of a list (each DoFn's) all see the one clock."""

    now = 60.0 * 20_000

    def __call__(self) -> float:
        return wall()


def wall() -> float:
    return Clock.now


@pytest.fixture(autouse=True)
def _clock_at_a_slot_start():
    Clock.now = 60.0 * 20_000


def opened(table: Table, clock: Clock, refresh: float = 60, policy: RetryPolicy = QUICK) -> ForgottenList:
    view = ForgottenList(TARGET, refresh, policy, wall)
    view._client_factory = table.connection
    view.setup()
    return view


def test_the_list_is_read_at_setup_and_again_in_each_new_slot_only():
    table, clock = Table(), Clock()
    table.users = {"ana": AT_MS}
    view = opened(table, clock)
    assert table.scans == 1 and view.current().forgets("ana", AT_MS)
    table.users["bo"] = AT_MS
    Clock.now += 30
    for _ in range(1000):
        assert not view.current().names("bo")
    assert table.scans == 1, "one read per slot, not per record"
    Clock.now += 30
    assert view.current().names("bo") and table.scans == 2, "a new entry is seen within one refresh period"
    view.teardown()
    assert table.closed == 1


def test_the_dofns_of_one_process_share_one_read_per_slot():
    table = Table()
    view = ForgottenList(TARGET, 60, QUICK, wall)
    copies = [pickle.loads(pickle.dumps(view)) for _ in range(4)]  # as Beam gives each thread its DoFn
    for copy in copies:
        copy._client_factory = table.connection
        copy.setup()
    assert table.scans == 1
    Clock.now += 60
    for copy in copies:
        copy.current()
    assert table.scans == 2
    for copy in copies:
        copy.teardown()
    assert table.opened == table.closed == 1, "only a DoFn that reads opens a client, and closes it"


def test_a_refused_read_is_retried_and_one_failing_past_the_budget_fails_the_bundle():
    table, clock = Table(), Clock()
    table.refusals = [api_exceptions.ServiceUnavailable("restarting")]
    table.users = {"ana": AT_MS}
    view = opened(table, clock)
    assert view.current().names("ana") and table.scans == 2
    Clock.now += 60
    table.users["bo"] = AT_MS
    table.refusals = [api_exceptions.ServiceUnavailable("down")] * 1000
    with pytest.raises(BigtableUnavailable, match="transacoes_forgotten: reading the table still failing"):
        view.current()
    scan = table.scan

    def cut_after_ana(after, row_filter, timeout):  # ana's row arrives whole, then the stream breaks
        if after:
            raise api_exceptions.ServiceUnavailable("down")
        yield next(iter(scan(after, row_filter, timeout)))
        raise api_exceptions.ServiceUnavailable("cut")

    table.scan = cut_after_ana  # type: ignore[method-assign]
    view._connection = table.connection(TARGET)
    Clock.now += 60
    with pytest.raises(BigtableUnavailable) as raised:
        view.current()
    assert "ana" not in str(raised.value), "no forgotten user's id in an error a log keeps"
    table.scan = scan  # type: ignore[method-assign]
    view._connection = table.connection(TARGET)
    table.refusals = []
    assert view.current().names("bo"), "the next record reads again: a stale list is never used past its slot"


def test_only_settings_travel_with_the_dofn():
    table, clock = Table(), Clock()
    view = opened(table, clock)
    state = view.__getstate__()
    assert not {"_opened", "_connection", "_slot", "_users"} & set(state)
    with pytest.raises(ValueError, match="refresh_seconds must be positive"):
        ForgottenList(TARGET, 0)
