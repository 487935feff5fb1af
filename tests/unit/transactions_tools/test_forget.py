"""``transacoes-forget``: which dead letters are the user's, which key prefixes are dropped, what it
prints, and how it refuses, against scripted clients (``transactions_wire.clients`` replaced). The
real emulators are ``tests/integration/test_forget_emulator.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from google.api_core import exceptions as api_exceptions

from tests.output import one_clean_line
from transactions.formats import epoch_ms_to_rfc3339
from transactions_tools import forget
from transactions_wire import clients

DLQ = "projects/my-project/subscriptions/transacoes-dead-letter-sub"


def test_the_prefixes_are_the_users_alone():
    assert forget.user_rollup_prefix("ana") == b"user#ana#"


@dataclass
class World:
    rows: dict[str, list[bytes]] = field(default_factory=dict)  # table -> keys
    dead_letters: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    dropped: list[tuple[str, bytes]] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    handed_back: list[str] = field(default_factory=list)
    pulled: bool = False
    recorded: list[tuple[str, bytes, str, bytes, bytes, int]] = field(default_factory=list)
    slept: list[float] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    # Pub/Sub
    def get_subscription(self, subscription: str, timeout: float, retry: Any) -> Any:
        if subscription != DLQ:
            raise api_exceptions.NotFound(subscription)

    def pull(self, subscription: str, max_messages: int, timeout: float) -> Any:
        if self.pulled:
            return SimpleNamespace(received_messages=[])
        self.pulled = True
        return SimpleNamespace(
            received_messages=[
                SimpleNamespace(ack_id=f"a{i}", message=SimpleNamespace(message_id=str(i), data=d, attributes=a))
                for i, (d, a) in enumerate(self.dead_letters)
            ]
        )

    def modify_ack_deadline(self, subscription: str, ack_ids: list[str], ack_deadline_seconds: int) -> None:
        if ack_deadline_seconds == 0:
            self.handed_back += ack_ids

    def acknowledge(self, subscription: str, ack_ids: list[str]) -> None:
        self.acknowledged += ack_ids


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    scripted = World()

    class Table:
        def __init__(self, name: str) -> None:
            self.name = name

        def read_rows(self, row_set: Any, filter_: Any) -> list[Any]:
            [row_range] = row_set.row_ranges
            start = row_range.start_key
            return [k for k in scripted.rows.get(self.name, []) if k.startswith(start)]

        def drop_by_prefix(self, prefix: bytes) -> None:
            scripted.events.append("drop")
            scripted.dropped.append((self.name, prefix))
            scripted.rows[self.name] = [k for k in scripted.rows[self.name] if not k.startswith(prefix)]

        def direct_row(self, key: bytes) -> Any:
            cells: list[tuple[str, bytes, bytes, Any]] = []

            def commit() -> Any:
                scripted.events.append("record")
                for family, column, value, stamp in cells:
                    micros = int(stamp.timestamp() * 1_000_000)
                    scripted.recorded.append((self.name, key, family, column, value, micros))
                return SimpleNamespace(code=0)

            return SimpleNamespace(
                set_cell=lambda family, column, value, timestamp: cells.append((family, column, value, timestamp)),
                commit=commit,
            )

    def sleep(seconds: float) -> None:
        scripted.events.append("wait")
        scripted.slept.append(seconds)

    @contextmanager
    def bigtable_admin(project: str) -> Iterator[Any]:
        yield SimpleNamespace(instance=lambda instance: SimpleNamespace(table=Table))

    @contextmanager
    def pubsub_subscriber(*args: Any, **kwargs: Any) -> Iterator[World]:
        yield scripted

    monkeypatch.setattr(clients, "bigtable_admin", bigtable_admin)
    monkeypatch.setattr(clients, "pubsub_subscriber", pubsub_subscriber)
    monkeypatch.setattr(forget.time, "sleep", sleep)
    return scripted


ARGS = ["--user", "ana", "--project", "my-project", "--instance", "inst-1"]


def test_one_drop_per_prefix_and_only_the_users_dead_letters_acknowledged(world, capsys):
    world.rows = {
        "transacoes": [b"ana#1#t1", b"ana#2#t2", b"anabel#1#t3", b"bo#1#t4"],
        "transacoes_rollups": [b"category#Books#202612030300", b"user#ana#20261203", b"user#anabel#20261203"],
    }
    world.dead_letters = [
        (orjson.dumps({"user_id": "ana"}), {}),
        (orjson.dumps({"user_id": "bo"}), {}),
        (b"ana,P1", {"source_file": "f.csv"}),
    ]
    before_ms = int(time.time() * 1000)
    assert forget.main(ARGS) == 0
    [(table, key, family, column, value, micros)] = world.recorded
    assert (table, key, family, column) == ("transacoes_forgotten", b"ana", "forgotten", b"at")
    at_ms = micros // 1000
    assert before_ms <= at_ms <= time.time() * 1000 and micros % 1000 == 0
    assert value == epoch_ms_to_rfc3339(at_ms).encode()
    assert world.slept == [75] and world.events[:3] == ["record", "wait", "drop"], "recorded, then waited, then deleted"
    assert world.dropped == [("transacoes", b"ana#"), ("transacoes_rollups", b"user#ana#")]
    assert world.rows == {
        "transacoes": [b"anabel#1#t3", b"bo#1#t4"],
        "transacoes_rollups": [b"category#Books#202612030300", b"user#anabel#20261203"],
    }
    assert (world.acknowledged, world.handed_back) == (["a0", "a2"], ["a1"])
    assert capsys.readouterr().out.splitlines() == [
        f"recorded in transacoes_forgotten: forgotten at {epoch_ms_to_rfc3339(at_ms)}",
        "waiting 75 s for running jobs to read it (--wait-for-jobs)",
        "forgot user 'ana'",
        "  transaction rows deleted         2",
        "  user-day rollups deleted         1",
        "  dead letters deleted             2  (1 of others kept)",
    ]


def test_nothing_left_nothing_dropped(world, capsys):
    assert forget.main([*ARGS, "--rollups-table", "", "--forgotten-table", ""]) == 0
    assert world.dropped == [] and world.acknowledged == [] and world.recorded == [] and world.slept == []
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  transaction rows deleted         0",
        "  user-day rollups deleted         0",
        "  dead letters deleted             0  (0 of others kept)",
    ]


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (
            ["--user", "a#b", "--project", "my-project", "--instance", "inst-1"],
            2,
            "transacoes-forget: error: --user: 'a#b' is not a user id (1-64 characters without '#' or "
            "control characters) (see --help)",
        ),
        (
            ["--user", "x\x1b[2J", "--project", "my-project", "--instance", "inst-1"],
            2,
            "transacoes-forget: error: --user: 'x\\x1b[2J' is not a user id (1-64 characters without '#' or "
            "control characters) (see --help)",
        ),
        (
            [*ARGS, "--dead-letter-subscription", "projects/my-project/subscriptions/gone"],
            3,
            "transacoes-forget: error: subscription projects/my-project/subscriptions/gone does not exist",
        ),
        (
            [*ARGS, "--dead-letter-subscription", "dead"],
            2,
            "transacoes-forget: error: --dead-letter-subscription: 'dead' is not "
            "projects/<project>/subscriptions/<subscription> (see --help)",
        ),
    ],
)
def test_every_failure_is_one_line_and_its_exit_code(world, capsys, argv, code, says):
    world.rows = {"transacoes": [b"ana#1#t1"]}
    try:
        assert forget.main(argv) == code
    except SystemExit as stopped:
        assert stopped.code == code
    assert one_clean_line(capsys.readouterr().err, 400) == says
    assert world.acknowledged == [] and world.dropped == [], "refused before anything is deleted"
    assert world.recorded == [], "and before anything is recorded"
