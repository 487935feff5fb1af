"""The rollups against a busy Bigtable: refused and cut ``ReadRows`` as well as refused entries.

The rollups' sink reads the other writers' sets of each window before it writes a total; the
emulator never refuses such a read nor cuts its stream, so the fault proxy does
(``transactions_tools.local.fault_proxy``). A busy cluster must delay the rollups, never fail the
job nor make a total wrong: every rollup cell is checked against the totals over the transaction
rows themselves (:func:`assert_rollups_are_the_rows_totals`), and no dead letter is published.
"""

import time

import grpc
import pytest

from tests.integration.harness import job_config, provision_for_test, publish, pull_dead_letters, streaming_job
from tests.integration.test_chaos_emulator import _wait_for_rows_through_the_emulator, proxy  # noqa: F401
from tests.integration.test_rollups_restarts_emulator import MINUTE_MS, assert_rollups_are_the_rows_totals
from tests.messages import attributes_of, encode, event_time, valid_record
from transactions_pipeline import rollup_sink
from transactions_tools.local.fault_proxy import MUTATE_ROWS, READ_ROWS, Fault

pytestmark = pytest.mark.integration

FAULT_SECONDS = 20
MESSAGES = 320
READS = frozenset({READ_ROWS})


def _records(count: int, base_ms: int) -> list[dict]:
    """``count`` sales over 4 users, 3 categories and 3 minutes: many windows, each written often."""
    return [
        valid_record(
            i,
            transaction_id=f"rollchaos:{i:05d}",
            user_id=f"user{i % 4}",
            category=("Books", "Toys", "Sports")[i % 3],
            event_time=event_time(base_ms + (i % 3) * MINUTE_MS + i),
        )
        for i in range(count)
    ]


def test_the_stream_keeps_exact_rollups_through_refused_reads_and_entries(emulators, unique, proxy, monkeypatch):  # noqa: F811
    resources = provision_for_test(unique)
    base_ms = (int(time.time() * 1000) // MINUTE_MS - 2) * MINUTE_MS
    records = _records(MESSAGES, base_ms)
    proxy.inject(Fault("calls", grpc.StatusCode.RESOURCE_EXHAUSTED, share=0.5, methods=READS), FAULT_SECONDS)
    proxy.inject(
        Fault("entries", grpc.StatusCode.UNAVAILABLE, share=0.3, methods=frozenset({MUTATE_ROWS})), FAULT_SECONDS
    )
    config = job_config(resources, rollups_table=resources.rollups_table)
    with streaming_job(config) as job:
        for start in range(0, MESSAGES, 40):  # about 12 s of traffic, inside the faults' window
            publish(resources, [(encode(r), attributes_of(r)) for r in records[start : start + 40]])
            time.sleep(1.5)
        rows = _wait_for_rows_through_the_emulator(resources, emulators, monkeypatch, MESSAGES)
        assert len(rows) == MESSAGES
        with monkeypatch.context() as direct:
            direct.setenv("BIGTABLE_EMULATOR_HOST", emulators.bigtable_host)
            found = assert_rollups_are_the_rows_totals(resources, timeout=180)
        assert str(job.state) in ("RUNNING", "PipelineState.RUNNING"), job.state
    injected = dict(proxy.stats)
    assert injected["calls failed RESOURCE_EXHAUSTED"] > 0, injected
    assert injected["entries failed UNAVAILABLE"] > 0, injected
    assert sum(int(count) for key, (count, _) in found.items() if key.startswith(b"category#")) == MESSAGES
    assert pull_dead_letters(resources, 1, timeout=3) == [], injected


@pytest.mark.parametrize(
    "fault",
    [
        Fault("calls", grpc.StatusCode.RESOURCE_EXHAUSTED, share=1.0, methods=READS),
        Fault("cut", share=0.5, methods=READS),
    ],
    ids=["first reads refused", "read streams cut"],
)
def test_a_backfill_with_rollups_through_a_busy_read_gives_the_calm_run_s_rollups(
    emulators,
    unique,
    proxy,  # noqa: F811
    monkeypatch,
    tmp_path,
    fault,
):
    """One backfill calm, the same file through the proxy into tables of its own, whose first
    reads are refused (for 3 s) or whose read streams are cut (throughout): exit 0, the same
    transaction rows and the same rollups. The rollups table already holds another writer's sets
    of the same windows (an earlier backfill of a neighbour file), so every read has rows to
    return, and a cut stream has rows to cut between. The busy run sends batches of 5 firings,
    so its sink has two batches in flight, on two threads, through the faults."""
    from tests.integration.test_backfill_emulator import GOOD, HEADER, backfill_args
    from transactions_pipeline.launch import main
    from transactions_tools.digest import table_digest

    def csv(name: str, users: range) -> str:
        path = tmp_path / name
        lines = [HEADER] + [GOOD[i % 4].replace("12de933f", f"u{i % 40:07d}") for i in users]
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    earlier, sales = csv("earlier.csv", range(0, 200)), csv("sales.csv", range(200, 600))
    calm, busy = provision_for_test(f"{unique}calm"), provision_for_test(f"{unique}busy")
    with monkeypatch.context() as direct:
        direct.setenv("BIGTABLE_EMULATOR_HOST", emulators.bigtable_host)
        for resources in (calm, busy):
            assert main([*backfill_args(resources, earlier), f"--rollups_table={resources.rollups_table}"]) == 0
        assert main([*backfill_args(calm, sales), f"--rollups_table={calm.rollups_table}"]) == 0
    proxy.inject(fault, seconds=3 if fault.kind == "calls" else 120)
    monkeypatch.setattr(rollup_sink, "MAX_FIRINGS_PER_BATCH", 5)  # the job runs in this process
    assert main([*backfill_args(busy, sales), f"--rollups_table={busy.rollups_table}"]) == 0
    injected = dict(proxy.stats)
    proxy.clear()
    if fault.kind == "calls":
        assert injected["calls failed RESOURCE_EXHAUSTED"] > 0, injected
    else:
        assert injected["read streams cut"] > 0 and injected["rows unanswered"] > 0, injected
    with monkeypatch.context() as direct:
        direct.setenv("BIGTABLE_EMULATOR_HOST", emulators.bigtable_host)
        assert table_digest(busy.table)[0] == 600
        assert table_digest(busy.table)[1] == table_digest(calm.table)[1]
        assert assert_rollups_are_the_rows_totals(busy, timeout=5) == assert_rollups_are_the_rows_totals(
            calm, timeout=5
        )
    assert pull_dead_letters(busy, 1, timeout=3) == []
