"""``make bench`` empties the emulator between benchmarks only when it started the emulator itself,
and only of its own tables (no emulator: a fake admin client stands for it)."""

from contextlib import contextmanager

import pytest

from benchmarks import curve


class _Table:
    def __init__(self, table_id: str, deleted: list[str]) -> None:
        self.table_id, self._deleted = table_id, deleted

    def delete(self) -> None:
        self._deleted.append(self.table_id)


@pytest.fixture
def deleted(monkeypatch) -> list[str]:
    from transactions_wire import clients

    gone: list[str] = []
    tables = [_Table(name, gone) for name in ("bench_sink_ours", "bench_sink_ours_rollups", "transacoes-1a2b3c4d")]

    class _Instance:
        def list_tables(self) -> list[_Table]:
            return tables

    class _Client:
        def instance(self, _instance_id: str) -> _Instance:
            return _Instance()

    @contextmanager
    def admin(_project: str):
        yield _Client()

    monkeypatch.setattr(clients, "bigtable_admin", admin)
    return gone


def test_an_emulator_this_run_started_loses_the_benchmarks_tables_and_only_those(deleted):
    curve.drop_tables(own_emulator=True)
    assert deleted == ["bench_sink_ours", "bench_sink_ours_rollups"]


def test_an_emulator_from_the_environment_is_shared_and_left_alone(deleted):
    curve.drop_tables(own_emulator=False)
    assert deleted == []
