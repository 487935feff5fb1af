"""Rollups exact across restarts and backfills, on the emulators.

After each story below, every rollup cell must read as the exact total over the transaction rows
in its window, each counted once: :func:`assert_rollups_are_the_rows_totals` reads the transaction
table itself, sums its ``final_price`` cells per category-minute and per user-day with
``Decimal``, and compares that with what a reader of the rollups table sees (the newest cell of
each column), key for key.

- a stream split across two jobs, the first stopped mid-window, the second started anew on the
  same subscription and tables (a drain and relaunch; locally the first job is stopped once its
  windows have fired, since the local runner cannot drain);
- a backfill over a day the stream counted (different transactions, the same windows);
- a late event for a closed window, arriving after a restart;
- and the same transactions re-published to the second job: counted once.
"""

import time
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tests.integration.harness import job_config, provision_for_test, publish, read_rows, streaming_job, wait_for_rows
from tests.integration.test_rollups_emulator import rollups_of
from tests.messages import attributes_of, encode, event_time, valid_record
from transactions import layout, rollup_layout
from transactions_pipeline.pipeline import run as run_job

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000


def rows_totals(resources) -> dict:
    """Per rollup key: (count, money text) over the transaction rows themselves."""
    totals: defaultdict[bytes, tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for key, cells in read_rows(resources).items():
        user_id, event_ms, _ = layout.parse_row_key(key)
        category = cells[b"category"][0][0].decode()
        price = Decimal(cells[b"final_price"][0][0].decode())
        for rollup, name in ((rollup_layout.CATEGORY_MINUTE, category), (rollup_layout.USER_DAY, user_id)):
            rollup_key = rollup_layout.rollup_key(rollup, name, rollup_layout.window_start_ms(rollup, event_ms))
            count, money = totals[rollup_key]
            totals[rollup_key] = (count + 1, money + price)
    return {key: (str(count).encode(), f"{money:.2f}".encode()) for key, (count, money) in totals.items()}


def rollups_seen(resources) -> dict:
    """Per rollup key: (count, money) as a reader sees them."""
    found = {}
    for key, cells in rollups_of(resources, b"").items():
        money = b"revenue" if key.startswith(b"category#") else b"spend"
        found[key] = (cells[b"count"][0][0], cells[money][0][0])
    return found


def assert_rollups_are_the_rows_totals(resources, timeout: float = 120) -> dict:
    """Wait until the rollups equal the rows' own totals (firings come every few seconds), then
    check they are equal: every key, every count, every cent."""
    expected = rows_totals(resources)
    deadline = time.monotonic() + timeout
    found = rollups_seen(resources)
    while found != expected and time.monotonic() < deadline:
        time.sleep(2)
        found = rollups_seen(resources)
    assert found == expected
    return found


def sales(first: int, count: int, base_ms: int, user: str = "ana") -> list[tuple[bytes, dict]]:
    """``count`` sales of one user across 2 category-minutes starting at ``base_ms``."""
    messages = []
    for i in range(first, first + count):
        event_ms = base_ms + (i % 2) * MINUTE_MS + (i % 50) * 500
        record = valid_record(i, transaction_id=f"restart:{i}", user_id=user, event_time=event_time(event_ms))
        messages.append((encode(record), attributes_of(record)))
    return messages


def _minute_ago(minutes: int) -> int:
    """The start of a closed minute ``minutes`` ago, such that the few minutes of sales after it
    fall in one UTC day (near midnight, the last minutes of the day before: still inside the
    allowed hour), so that a test's one user-day holds all of them."""
    now_ms = int(time.time() * 1000)
    base = rollup_layout.window_start_ms(rollup_layout.CATEGORY_MINUTE, now_ms) - minutes * MINUTE_MS
    day = rollup_layout.USER_DAY
    if rollup_layout.window_start_ms(day, base) != rollup_layout.window_start_ms(day, base + 3 * MINUTE_MS):
        base = rollup_layout.window_start_ms(day, base + 3 * MINUTE_MS) - 10 * MINUTE_MS
    return base


def test_a_stream_split_across_two_jobs_keeps_every_total_exact(emulators, unique):
    resources = provision_for_test(unique)
    config = job_config(resources, rollups_table=resources.rollups_table)
    base_ms = _minute_ago(3)  # closed minutes, well inside the allowed hour: both jobs still count them
    first, second = sales(0, 40, base_ms), sales(40, 40, base_ms)

    with streaming_job(config):  # the first job: a generation of its own
        publish(resources, first)
        wait_for_rows(resources, 40)
        seen = assert_rollups_are_the_rows_totals(resources)  # its windows have fired: stop it
    day_start = rollup_layout.window_start_ms(rollup_layout.USER_DAY, base_ms)
    user_day = rollup_layout.rollup_key(rollup_layout.USER_DAY, "ana", day_start)
    assert seen[user_day][0] == b"40"

    with streaming_job(config):  # a new job on the same subscription and tables: empty windows
        publish(resources, second)
        publish(resources, first[:10])  # re-published transactions the first job counted: once
        wait_for_rows(resources, 80)
        seen = assert_rollups_are_the_rows_totals(resources)
    assert seen[user_day][0] == b"80"
    _lookup_json_reads_the_same(resources, day_start)


def _lookup_json_reads_the_same(resources, day_start: int) -> None:
    """``transacoes-lookup --json``: the user-day a reader sees, and the user's latest rows, for scripts."""
    import contextlib
    import io
    import json

    from transactions_tools import lookup

    where = ["--table", resources.table, "--rollups-table", resources.rollups_table]
    day = datetime.fromtimestamp(day_start / 1000, UTC).strftime("%Y-%m-%d")
    for argv, check in (
        (["--user-days", "ana", "--days", "1", "--until", day, "--json"], lambda d: d["windows"][0]["count"] == "80"),
        (["ana", "--limit", "3", "--json"], lambda d: len(d["transactions"]) == 3),
    ):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert lookup.main([*argv, *where]) == 0
        assert check(json.loads(out.getvalue())), out.getvalue()


def test_a_backfill_over_a_streamed_day_adds_to_its_totals_exactly(emulators, unique, tmp_path):
    resources = provision_for_test(unique)
    config = job_config(resources, rollups_table=resources.rollups_table)
    base_ms = _minute_ago(2)
    today = datetime.fromtimestamp(base_ms / 1000, UTC)  # the stream's day (the day before, near midnight)
    with streaming_job(config):
        publish(resources, sales(0, 30, base_ms, user="02428050"))
        wait_for_rows(resources, 30)
        assert_rollups_are_the_rows_totals(resources)

    header = "User_ID,Product_ID,Category,Price (Rs.),Discount (%),Final_Price(Rs.),Payment_Method,Purchase_Date"
    day = today.strftime("%d-%m-%Y")
    lines = [f"02428050,p{i},{['Books', 'Toys'][i % 2]},{100 + i},0,{100 + i},UPI,{day}" for i in range(12)]
    path = tmp_path / "today.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    backfill = job_config(
        resources, input_subscription=None, input_file=str(path), rollups_table=resources.rollups_table
    )
    for _ in range(2):  # and a second run of the same backfill changes nothing
        run_job(PipelineOptions(["--runner=FnApiRunner", "--project=local-project"]), backfill).wait_until_finish()
        seen = assert_rollups_are_the_rows_totals(resources, timeout=10)
    start = rollup_layout.window_start_ms(rollup_layout.USER_DAY, base_ms)
    user_day = rollup_layout.rollup_key(rollup_layout.USER_DAY, "02428050", start)
    assert seen[user_day][0] == b"42"  # the stream's 30 and the file's 12


def test_a_late_event_after_a_restart_is_added_to_its_closed_window(emulators, unique):
    resources = provision_for_test(unique)
    config = job_config(resources, rollups_table=resources.rollups_table)
    base_ms = _minute_ago(5)
    late = sales(20, 1, base_ms)  # valid_record(20): Electronics, in the first of the two minutes
    late_keys = [
        rollup_layout.rollup_key(rollup_layout.CATEGORY_MINUTE, "Electronics", base_ms),
        rollup_layout.rollup_key(
            rollup_layout.USER_DAY, "ana", rollup_layout.window_start_ms(rollup_layout.USER_DAY, base_ms)
        ),
    ]
    with streaming_job(config):
        publish(resources, sales(0, 20, base_ms))
        wait_for_rows(resources, 20)
        before = assert_rollups_are_the_rows_totals(resources)
    with streaming_job(config):  # the windows are closed; the event is late, within the allowed hour
        publish(resources, late)
        wait_for_rows(resources, 21)
        after = assert_rollups_are_the_rows_totals(resources)
    for key in late_keys:
        assert int(after[key][0]) == int(before[key][0]) + 1, key
