"""``transacoes-rewind``: which times it takes, what it refuses before anything changes, and the
requests it sends, against a scripted subscriber (``transactions_wire.clients`` replaced). The real
emulator is ``tests/integration/test_rewind_emulator.py``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions

from tests.output import one_clean_line
from transactions_tools import rewind
from transactions_wire import clients

NOW = datetime(2026, 12, 3, 3, 0, 0, tzinfo=UTC)
SUB = "projects/my-project/subscriptions/transacoes-pipeline"


@dataclass
class Subscriber:
    retain_acked: bool = True
    retention: timedelta | None = timedelta(days=7)
    snapshots: set[str] = field(default_factory=set)
    requests: list[tuple[str, Any]] = field(default_factory=list)

    def get_subscription(self, subscription: str, timeout: float, retry: Any) -> Any:
        if subscription != SUB:
            raise api_exceptions.NotFound(subscription)
        return SimpleNamespace(retain_acked_messages=self.retain_acked, message_retention_duration=self.retention)

    def get_snapshot(self, snapshot: str, timeout: float, retry: Any) -> Any:
        if snapshot not in self.snapshots:
            raise api_exceptions.NotFound(snapshot)
        return SimpleNamespace(name=snapshot)

    def seek(self, request: dict[str, Any]) -> None:
        self.requests.append(("seek", request))

    def create_snapshot(self, request: dict[str, Any]) -> Any:
        self.requests.append(("create_snapshot", request))
        if request["name"] in self.snapshots:
            raise api_exceptions.AlreadyExists(request["name"])
        self.snapshots.add(request["name"])
        return SimpleNamespace(expire_time=NOW + timedelta(days=7))


@pytest.fixture
def subscriber(monkeypatch: pytest.MonkeyPatch) -> Subscriber:
    scripted = Subscriber()

    @contextmanager
    def pubsub_subscriber(*args: Any) -> Iterator[Subscriber]:
        yield scripted

    monkeypatch.setattr(clients, "pubsub_subscriber", pubsub_subscriber)
    return scripted


def run(*argv: str) -> int:
    return rewind.main(list(argv), now=lambda: NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-2h", datetime(2026, 12, 3, 1, 0, tzinfo=UTC)),
        ("-90s", datetime(2026, 12, 3, 2, 58, 30, tzinfo=UTC)),
        ("-30m", datetime(2026, 12, 3, 2, 30, tzinfo=UTC)),
        ("-3d", datetime(2026, 11, 30, 3, 0, tzinfo=UTC)),
        ("2026-12-03T01:00:00Z", datetime(2026, 12, 3, 1, 0, tzinfo=UTC)),
        ("2026-12-02T22:00:00-03:00", datetime(2026, 12, 3, 1, 0, tzinfo=UTC)),
        ("2026-12-03t01:00:00.123456789z", datetime(2026, 12, 3, 1, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_an_rfc_3339_time_or_a_time_back_from_now(text, expected):
    assert rewind.parse_time(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["2h", "-0h", "-2w", "2026-12-03 01:00:00Z", "2026-12-03T01:00:00", "2026-13-03T01:00:00Z"]
)
def test_anything_else_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="neither an RFC 3339 time"):
        rewind.parse_time(text, NOW)


def test_a_seek_to_a_time_back_from_now(subscriber, capsys):
    assert run("--subscription", SUB, "--to", "-1h") == 0
    assert subscriber.requests == [("seek", {"subscription": SUB, "time": datetime(2026, 12, 3, 2, 0, tzinfo=UTC)})]
    assert capsys.readouterr().out == (
        f"rewound {SUB} to 2026-12-03T02:00:00Z: every message published since is delivered again\n"
    )


@pytest.mark.parametrize(
    ("argv", "retain", "says"),
    [
        (
            ["--to", "-8d"],
            True,
            f"transacoes-rewind: error: 2026-11-25T03:00:00Z is before {SUB}'s retention window: it keeps "
            "messages 7 days (since 2026-11-26T03:00:00Z); pick a later time or a snapshot",
        ),
        (
            ["--to", "2026-12-03T04:00:00Z"],
            True,
            "transacoes-rewind: error: 2026-12-03T04:00:00Z is in the future: a seek there would acknowledge "
            "messages nobody has read",
        ),
        (
            ["--to", "-1h"],
            False,
            f"transacoes-rewind: error: {SUB} keeps no acknowledged messages, so a seek back redelivers nothing "
            "the job has read; run transacoes-provision (it sets retain_acked_messages) and rewind later",
        ),
    ],
)
def test_a_rewind_that_cannot_deliver_what_it_says_changes_nothing_and_exits_2(subscriber, capsys, argv, retain, says):
    subscriber.retain_acked = retain
    assert run("--subscription", SUB, *argv) == 2
    assert one_clean_line(capsys.readouterr().err, 400) == says
    assert subscriber.requests == []


def test_a_snapshot_before_an_update_and_a_seek_back_to_it(subscriber, capsys):
    assert run("snapshot", "create", "before-v1-1-0", "--subscription", SUB) == 0
    snapshot = "projects/my-project/snapshots/before-v1-1-0"
    assert run("--subscription", SUB, "--snapshot", snapshot) == 0
    assert subscriber.requests == [
        ("create_snapshot", {"name": snapshot, "subscription": SUB}),
        ("seek", {"subscription": SUB, "snapshot": snapshot}),
    ]
    assert capsys.readouterr().out.splitlines() == [
        f"created snapshot {snapshot} of {SUB} (expires 2026-12-10T03:00:00Z)",
        f"rewound {SUB} to snapshot {snapshot}: what was unacknowledged then is delivered again",
    ]


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (
            ["--subscription", SUB, "--snapshot", "missing"],
            3,
            "transacoes-rewind: error: snapshot projects/my-project/snapshots/missing does not exist",
        ),
        (
            ["--subscription", "projects/my-project/subscriptions/gone", "--to", "-1h"],
            3,
            "transacoes-rewind: error: subscription projects/my-project/subscriptions/gone does not exist",
        ),
        (
            ["--subscription", SUB, "--to", "yesterday\x1b[2J"],
            2,
            "transacoes-rewind: error: --to: 'yesterday\\x1b[2J' is neither an RFC 3339 time "
            "(2026-12-03T01:00:00Z) nor a time back from now (-2h) (see --help)",
        ),
        (
            ["--subscription", SUB, "--to", "-1h", "--snapshot", "snap1"],
            2,
            "transacoes-rewind: error: argument --snapshot: not allowed with argument --to (see --help)",
        ),
        (
            ["--subscription", "transacoes-pipeline", "--to", "-1h"],
            2,
            "transacoes-rewind: error: --subscription: 'transacoes-pipeline' is not "
            "projects/<project>/subscriptions/<subscription> (see --help)",
        ),
        (
            ["snapshot", "create", "9bad", "--subscription", SUB],
            2,
            "transacoes-rewind snapshot create: error: argument name: '9bad' is not a snapshot: a topic or "
            "subscription id: 3-255 characters of letters, digits and -._~+%, starting with a letter, or "
            "projects/<project>/snapshots/<id> (see --help)",
        ),
    ],
)
def test_every_failure_is_one_line_and_its_exit_code(subscriber, capsys, argv, code, says):
    try:
        assert run(*argv) == code
    except SystemExit as stopped:
        assert stopped.code == code
    assert one_clean_line(capsys.readouterr().err, 400) == says
    assert subscriber.requests == []


def test_a_snapshot_name_taken_is_a_failed_call_exit_3(subscriber, capsys):
    subscriber.snapshots.add("projects/my-project/snapshots/taken")
    assert run("snapshot", "create", "taken", "--subscription", SUB) == 3
    assert one_clean_line(capsys.readouterr().err, 400) == (
        "error: Pub/Sub failed: AlreadyExists: projects/my-project/snapshots/taken"
    )


def test_help_names_both_forms(capsys):
    with pytest.raises(SystemExit) as stopped:
        rewind.main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    assert "--to TO" in out and "--snapshot SNAPSHOT" in out and "transacoes-rewind snapshot create NAME" in out


def test_a_subscription_the_caller_may_consume_but_not_read_is_refused_in_one_line(subscriber, monkeypatch, capsys):
    """PermissionDenied on ``get_subscription`` counts as "it exists" (the account may consume without
    reading settings), so the retention check cannot run: one line naming the role, exit 2, no seek."""

    def denied(subscription: str, timeout: float, retry: Any) -> Any:
        raise api_exceptions.PermissionDenied("pubsub.subscriptions.get")

    monkeypatch.setattr(subscriber, "get_subscription", denied)
    assert run("--subscription", SUB, "--to", "-1h") == 2
    assert one_clean_line(capsys.readouterr().err, 400) == (
        f"transacoes-rewind: error: cannot read {SUB}'s retention (permission denied on pubsub.subscriptions.get): "
        "a seek to a time is checked against it first; grant roles/pubsub.viewer on the subscription"
    )
    assert subscriber.requests == []
