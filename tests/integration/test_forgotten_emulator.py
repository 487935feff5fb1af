"""A forgotten user stays forgotten, on the emulators (``docs/data-lifecycle.md``, "Forget a user").

Stream: users A and B each have transactions, dead letters and per-day rollups from a running job.
``transacoes-forget A`` runs while the job keeps running; then A's old messages (valid and broken)
are published again, as a rewind or a replay would bring them, with a purchase A makes after the
request and new ones of B. None of A's old messages becomes a row or a dead letter (each is counted
by the job's parse step), A's new purchase is written, B's are, and A's day total is not written
again, though the job's window still held A's earlier sales. Meanwhile, for the first 3 s, every
``ReadRows`` call of the job (the forgotten list's, the rollups') is refused through the fault
proxy: the list is read all the same, through the reader's retry rule, and nothing of A's passes
while it cannot be read.

Backfill: a file holding A's lines and B's gives B's rows alone, and no dead letter.

What the job dropped is recorded at its parse step (``ParseAndValidateFn._forget``, wrapped in this
process: the local runner runs the job here); the unit tests read the same as Beam counters.
"""

import threading
import time
from contextlib import contextmanager

import grpc
import pytest

from tests.integration.harness import (
    INSTANCE,
    PROJECT,
    job_config,
    provision_for_test,
    publish,
    pull_dead_letters,
    read_rows,
    streaming_job,
    wait_for,
)
from tests.integration.test_chaos_emulator import proxy  # noqa: F401
from tests.messages import attributes_of, encode, event_time, valid_record
from transactions import rollup_layout
from transactions_pipeline.pipeline import ParseAndValidateFn
from transactions_tools import forget
from transactions_tools.local.fault_proxy import READ_ROWS, Fault

pytestmark = pytest.mark.integration

A, B = "ana", "bo"
PER_USER = 8


@pytest.fixture
def dropped(monkeypatch) -> list[str]:
    """The transaction ids the job's parse step dropped as a forgotten user's, in order."""
    seen: list[str] = []
    lock = threading.Lock()
    original = ParseAndValidateFn._forget

    def recording(self, transaction_id):
        with lock:
            seen.append(transaction_id)
        return original(self, transaction_id)

    monkeypatch.setattr(ParseAndValidateFn, "_forget", recording)
    return seen


def forget_args(resources, user: str, *extra: str) -> list[str]:
    return ["--user", user, "--project", PROJECT, "--instance", INSTANCE, "--table", resources.table,
            "--rollups-table", resources.rollups_table, "--forgotten-table", resources.forgotten_table,
            "--dead-letter-subscription", "", *extra]  # fmt: skip


@contextmanager
def direct(monkeypatch, emulators):
    """A context in which this process's clients reach the emulator itself, not the proxy."""
    with monkeypatch.context() as context:
        context.setenv("BIGTABLE_EMULATOR_HOST", emulators.bigtable_host)
        yield


def test_a_forgotten_users_old_messages_come_back_and_are_neither_written_nor_dead_lettered(
    emulators,
    unique,
    proxy,  # noqa: F811
    monkeypatch,
    dropped,
    capsys,
):
    from google.cloud import bigtable

    resources = provision_for_test(unique, forgotten_table=f"forgotten-{unique}")
    now_ms = int(time.time() * 1000)
    with direct(monkeypatch, emulators):  # the test's own reads: never through the proxy, whenever
        client = bigtable.Client(project=PROJECT, admin=True)  # the job sets up its clients (each bundle)
        assert client._veneer_data_client is not None  # its data client, made now, keeps this address

    def rows_now() -> dict:
        return read_rows(resources, client=client)

    def days_now() -> dict:
        return user_days(resources, client)

    def sale(i: int, user: str, at_ms: int, **overrides) -> dict:
        return valid_record(i, transaction_id=f"fg{user}:{i}", user_id=user, event_time=event_time(at_ms), **overrides)

    old = {user: [sale(i, user, now_ms - 60_000 + i * 100) for i in range(PER_USER)] for user in (A, B)}
    broken = {user: [sale(100 + i, user, now_ms - 30_000, price="abc") for i in range(2)] for user in (A, B)}
    config = job_config(
        resources,
        rollups_table=resources.rollups_table,
        forgotten_table=resources.forgotten_table,
        forgotten_refresh_seconds=2,
    )
    with streaming_job(config):
        publish(resources, [(encode(r), attributes_of(r)) for user in (A, B) for r in old[user] + broken[user]])
        wait_for("every row", lambda: len(rows_now()) == 2 * PER_USER)
        wait_for(f"{A}'s day", lambda: any(k.startswith(b"user#ana#") for k in days_now()))
        assert len(pull_dead_letters(resources, 4, timeout=60)) == 4
        with direct(monkeypatch, emulators):
            assert forget.main(forget_args(resources, A, "--wait-for-jobs", "3")) == 0
        rows_of_b = {k: v for k, v in rows_now().items() if k.startswith(b"bo#")}
        assert not any(k.startswith(b"ana#") for k in rows_now())
        assert not any(k.startswith(b"user#ana#") for k in days_now())
        out = capsys.readouterr().out.splitlines()
        assert out[1] == "waiting 3 s for running jobs to read it (--wait-for-jobs)"
        assert out[3:5] == [f"  transaction rows deleted  {PER_USER:>8}", f"  user-day rollups deleted  {1:>8}"]

        proxy.inject(Fault("calls", grpc.StatusCode.RESOURCE_EXHAUSTED, share=1.0, methods=frozenset({READ_ROWS})), 3)
        after_ms = int(time.time() * 1000)
        new_a = sale(50, A, after_ms)
        new_b = [sale(50 + i, B, after_ms) for i in range(3)]
        again = [*old[A], *broken[A]]
        publish(resources, [(encode(r), attributes_of(r)) for r in [*again, new_a, *new_b]])
        wait_for("the new rows", lambda: len(rows_now()) == PER_USER + 3 + 1)
        wait_for("every old message of A read again", lambda: len(dropped) == len(again))
        wait_for(
            "the new sale's minute counted", lambda: counted_in_minutes(resources, new_a["transaction_id"], client)
        )
        time.sleep(3)  # a late write of A's would land by now
        rows, days = rows_now(), days_now()
        injected = dict(proxy.stats)

    assert sorted(dropped) == sorted(r["transaction_id"] for r in again), "each old message once, by id"
    assert [k for k in rows if k.startswith(b"ana#")] == [
        k for k in rows if k.endswith(new_a["transaction_id"].encode())
    ]
    assert {k: v for k, v in rows.items() if k in rows_of_b} == rows_of_b, "B's rows as they were"
    assert sum(k.startswith(b"bo#") for k in rows) == PER_USER + 3
    assert not any(k.startswith(b"user#ana#") for k in days), "A's day, held in the job's window, not written again"
    assert any(k.startswith(b"user#bo#") for k in days)
    assert pull_dead_letters(resources, 1, timeout=5) == [], "no dead letter of A's"
    assert injected.get("calls failed RESOURCE_EXHAUSTED", 0) > 0, injected


def test_a_backfill_of_a_forgotten_users_lines_writes_only_the_others(emulators, unique, tmp_path, dropped, capsys):
    from tests.integration.test_backfill_emulator import GOOD, HEADER, backfill_args
    from transactions_pipeline.launch import main

    resources = provision_for_test(unique, forgotten_table=f"forgotten-{unique}")
    assert forget.main(forget_args(resources, "02428050", "--wait-for-jobs", "0")) == 0
    capsys.readouterr()
    path = tmp_path / "sales.csv"
    path.write_text("\n".join([HEADER, *GOOD]) + "\n")  # two of its four lines are 02428050's
    extra = [f"--rollups_table={resources.rollups_table}", f"--forgotten_table={resources.forgotten_table}"]
    assert main([*backfill_args(resources, str(path)), *extra]) == 0
    rows = read_rows(resources)
    assert sorted(k.split(b"#")[0] for k in rows) == [b"12de933f", b"c52a3ee6"]
    assert len(dropped) == 2 and all(txid.startswith("csv-") for txid in dropped)
    assert not any(k.startswith(b"user#02428050#") for k in user_days(resources))
    assert pull_dead_letters(resources, 1, timeout=5) == []


def user_days(resources, client=None) -> dict:
    rows = read_rows(resources, resources.rollups_table, rollup_layout.FAMILY, client)
    return {k: v for k, v in rows.items() if k.startswith(b"user#") and v}


def counted_in_minutes(resources, transaction_id: str, client) -> bool:
    """Whether a category-minute's counted ids hold ``transaction_id`` (its firing reached the sink)."""
    rows = read_rows(resources, resources.rollups_table, rollup_layout.IDS_FAMILY, client)
    return any(
        transaction_id.encode() in value
        for key, cells in rows.items()
        if key.startswith(b"category#")
        for versions in cells.values()
        for value, _ in versions
    )
