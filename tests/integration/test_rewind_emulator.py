"""``transacoes-rewind`` on the emulators, through a running job with rollups: 300 messages are
written and counted, the subscription is seeked back an hour, the job reads all 300 again, and not
one cell changes: the transaction table's digest, and every rollup cell (totals and counted ids),
are what they were, with no dead letter. A rewind before the retention window is refused in one
line, exit code 2.

What the job read is counted at its parse step (``ParseAndValidateFn.process``, wrapped in this
process: the local runner runs the job here). Its Beam counters would say the same on Dataflow, but
the local runner's ``metrics()`` of a running streaming job keep only its first bundles."""

import threading
import time
from collections import Counter

import pytest

from tests.integration.harness import (
    job_config,
    provision_for_test,
    publish,
    pull_dead_letters,
    read_rows,
    streaming_job,
    wait_for,
    wait_for_rows,
)
from tests.messages import attributes_of, encode, event_time, valid_record
from tests.output import one_clean_line
from transactions import rollup_layout
from transactions_pipeline.pipeline import ParseAndValidateFn
from transactions_tools import rewind
from transactions_tools.digest import table_digest

pytestmark = pytest.mark.integration

MESSAGES = 300


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """transaction id -> how many times the job's parse step read it."""
    seen: Counter = Counter()
    lock = threading.Lock()
    original = ParseAndValidateFn.process

    def process(self, record):
        with lock:
            seen[record.attributes.get("transaction_id")] += 1
        return original(self, record)

    monkeypatch.setattr(ParseAndValidateFn, "process", process)
    return seen


def rollup_cells(resources) -> dict:
    """Every rollup cell as a reader sees it, both families: family -> key -> qualifier -> the
    newest version (value, timestamp). (The emulator applies no garbage collection, so it keeps
    the versions that the service's one-version rule collects.) An ``ids`` cell is read as what it
    holds, {transaction id: cents}: a window's later firing may list the same ids in another order."""
    cells: dict[str, dict[bytes, dict[bytes, tuple[object, int]]]] = {}
    for family in (rollup_layout.FAMILY, rollup_layout.IDS_FAMILY):
        cells[family] = {}
        for key, columns in read_rows(resources, resources.rollups_table, family).items():
            newest: dict[bytes, tuple[object, int]] = {}
            for qualifier, versions in columns.items():
                value, stamp = max(versions, key=lambda v: v[1])
                newest[qualifier] = (sales_of(value) if family == rollup_layout.IDS_FAMILY else value, stamp)
            cells[family][key] = newest
    return cells


def sales_of(value: bytes) -> dict[str, int]:
    sales: dict[str, int] = {}
    rollup_layout.decode_sales(value, sales)
    return sales


def counted(resources, prefix: bytes) -> int:
    """The transactions the newest totals under ``prefix`` count."""
    rows = read_rows(resources, resources.rollups_table, rollup_layout.FAMILY)
    return sum(
        int(max(cells[rollup_layout.COUNT], key=lambda v: v[1])[0])
        for key, cells in rows.items()
        if key.startswith(prefix) and rollup_layout.COUNT in cells  # the ids are written before the totals
    )


def test_a_rewind_reads_everything_again_and_changes_no_cell(emulators, unique, capsys, reads):
    resources = provision_for_test(unique)
    subscription = resources.subscription_path(resources.subscription)
    now_ms = int(time.time() * 1000)
    records = [
        valid_record(i, transaction_id=f"rw:{i}", event_time=event_time(now_ms - 5 * 60_000 + i * 500))
        for i in range(MESSAGES)
    ]
    config = job_config(resources, rollups_table=resources.rollups_table)
    ids = {r["transaction_id"] for r in records}
    with streaming_job(config):
        publish(resources, [(encode(r), attributes_of(r)) for r in records])
        wait_for_rows(resources, MESSAGES)
        wait_for("every transaction in the rollups", lambda: counted(resources, b"category#") == MESSAGES)
        wait_for("every transaction in the user-days", lambda: counted(resources, b"user#") == MESSAGES)
        assert set(reads) == ids
        time.sleep(12)  # one more early firing (every 10 s): the totals have settled
        before = table_digest(resources.table), rollup_cells(resources)

        assert rewind.main(["--subscription", subscription, "--to", "-1h"]) == 0
        wait_for("the second reading", lambda: min(reads[i] for i in ids) >= 2)
        time.sleep(25)  # the writes of the second reading, and two early firings of the rollups
        assert (table_digest(resources.table), rollup_cells(resources)) == before
        assert counted(resources, b"category#") == counted(resources, b"user#") == MESSAGES
    assert pull_dead_letters(resources, 1, timeout=5) == []
    assert capsys.readouterr().out.startswith(f"rewound {subscription} to ")

    assert rewind.main(["--subscription", subscription, "--to", "-8d"]) == 2
    line = one_clean_line(capsys.readouterr().err, 400)
    assert line.startswith("transacoes-rewind: error: ") and "is before" in line and "keeps messages 7 days" in line
