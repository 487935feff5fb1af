"""The live rollups end to end on the emulators, each total checked cell by cell against totals
the test computes itself (``Decimal``, never the pipeline's code):

- a crafted stream across 3 categories, 2 users and 3 minutes, with one event 30 minutes late
  (within the allowed hour: it updates its window), one 3 hours late (its transaction row is
  written, but no per-minute total takes it) and 5 duplicates re-published (counted once: the
  local runner ignores ``id_label``, so this is the rollups' own deduplication);
- a backfill of a small CSV, whose per-user-day totals come from reading the CSV with ``csv``.
"""

import csv
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tests.integration.harness import job_config, provision_for_test, publish, read_rows, streaming_job, wait_for_rows
from tests.messages import attributes_of, encode, event_time, valid_record
from transactions import layout, rollup_layout
from transactions.rollup_layout import CATEGORY_MINUTE, USER_DAY
from transactions_pipeline.pipeline import run as run_job

pytestmark = pytest.mark.integration

MINUTE_MS, DAY_MS = 60_000, 86_400_000
CATEGORIES = ("Books", "Toys", "Home & Kitchen")
USERS = ("ana", "bo")
CENT = Decimal("0.01")


def expected_totals(records, rollup, field: str, keep=lambda record: True) -> dict:
    """key -> {count, money} -> [(value, window end micros)], from the records, with Decimal."""
    totals: defaultdict[tuple[str, int], tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    for record in records:
        if keep(record):
            start = rollup_layout.window_start_ms(rollup, record["_event_ms"])
            count, money = totals[(record[field], start)]
            price = Decimal(str(record["final_price"])).quantize(CENT, ROUND_HALF_UP)
            totals[(record[field], start)] = (count + 1, money + price)
    size = rollup.window_seconds * 1000
    return {
        rollup_layout.rollup_key(rollup, name, start): {
            rollup_layout.COUNT: [(str(count).encode(), rollup_layout.totals_timestamp_micros(start + size, count))],
            rollup.money: [(f"{money:.2f}".encode(), rollup_layout.totals_timestamp_micros(start + size, count))],
        }
        for (name, start), (count, money) in totals.items()
    }


def rollups_of(resources, prefix: bytes) -> dict:
    """The totals a reader sees (the newest cell of each column), under ``prefix``."""
    rows = read_rows(resources, resources.rollups_table, rollup_layout.FAMILY)
    return {
        key: {qualifier: [max(versions, key=lambda v: v[1])] for qualifier, versions in cells.items()}
        for key, cells in rows.items()
        if key.startswith(prefix)
    }


def wait_for_rollups(resources, prefix: bytes, expected: dict, timeout: float = 120) -> dict:
    """Poll until the rollups under ``prefix`` equal ``expected`` (early and late firings come
    every few seconds); return what was last read."""
    deadline = time.monotonic() + timeout
    found = rollups_of(resources, prefix)
    while found != expected and time.monotonic() < deadline:
        time.sleep(1)
        found = rollups_of(resources, prefix)
    return found


def crafted_stream(now_ms: int) -> tuple[list[dict], dict, dict]:
    """18 on-time-ish events over 3 minutes, categories and users; one 30 min late; one 3 h late."""
    first_minute = rollup_layout.window_start_ms(CATEGORY_MINUTE, now_ms) - 3 * MINUTE_MS
    records = []
    for i in range(18):
        event_ms = first_minute + (i // 6) * MINUTE_MS + (i % 6) * 7_000 + 1_000
        records.append(
            valid_record(i, transaction_id=f"roll:{i}", user_id=USERS[i % 2], category=CATEGORIES[i % 3],
                         event_time=event_time(event_ms)) | {"_event_ms": event_ms}
        )  # fmt: skip
    late_ms, too_late_ms = now_ms - 30 * MINUTE_MS, now_ms - 180 * MINUTE_MS
    late = valid_record(20, transaction_id="roll:late", user_id="ana", category="Books", event_time=event_time(late_ms))
    too_late = valid_record(
        21, transaction_id="roll:too-late", user_id="cy", category="Toys", event_time=event_time(too_late_ms)
    )
    return records, late | {"_event_ms": late_ms}, too_late | {"_event_ms": too_late_ms}


def as_message(record: dict) -> tuple[bytes, dict]:
    body = {k: v for k, v in record.items() if not k.startswith("_")}
    return encode(body), attributes_of(body)


def test_a_crafted_stream_gives_exact_totals_once_per_transaction(emulators, unique):
    resources = provision_for_test(unique)
    records, late, too_late = crafted_stream(int(time.time() * 1000))
    everything = [*records, late, too_late]
    config = job_config(resources, rollups_table=resources.rollups_table)

    with streaming_job(config):
        publish(resources, [as_message(r) for r in records])
        publish(resources, [as_message(r) for r in records[:5]])  # 5 duplicates: re-published
        publish(resources, [as_message(late), as_message(too_late)])
        wait_for_rows(resources, len(everything))

        minutes = expected_totals(everything, CATEGORY_MINUTE, "category", keep=lambda r: r is not too_late)
        assert len(minutes) == 3 * 3 + 1  # 3 categories x 3 minutes, and the late event's minute
        assert wait_for_rollups(resources, b"category#", minutes) == minutes
        days = expected_totals([*records, late], USER_DAY, "user_id")
        assert wait_for_rollups(resources, b"user#ana#", _only(days, b"user#ana#")) == _only(days, b"user#ana#")
        assert wait_for_rollups(resources, b"user#bo#", _only(days, b"user#bo#")) == _only(days, b"user#bo#")

    rows = read_rows(resources)
    too_late_key = layout.row_key("cy", too_late["_event_ms"], "roll:too-late")
    assert too_late_key in rows, "a transaction too late for its rollup still has its row"
    assert len(rows) == len(everything)


def _only(totals: dict, prefix: bytes) -> dict:
    return {key: cells for key, cells in totals.items() if key.startswith(prefix)}


def test_a_backfill_writes_per_user_days_that_match_the_csv(emulators, unique, tmp_path):
    resources = provision_for_test(unique)
    sample = Path(__file__).resolve().parents[2] / "data" / "sample_transactions.csv"
    lines = sample.read_text().splitlines()[:1]
    users: dict[str, list[str]] = {}
    for line in sample.read_text().splitlines()[1:]:  # 60 rows of 4 users, several days each
        user = line.split(",", 1)[0]
        if user in users or len(users) < 4:
            users.setdefault(user, []).append(line)
    picked = [line for user_lines in users.values() for line in user_lines][:60]
    path = tmp_path / "sales.csv"
    path.write_text("\n".join(lines + picked + picked[:3]) + "\n")  # 3 lines twice: 2 transactions each

    config = job_config(resources, input_subscription=None, input_file=str(path), rollups_table=resources.rollups_table)
    run_job(PipelineOptions(["--runner=FnApiRunner", "--project=local-project"]), config).wait_until_finish()

    totals: defaultdict[tuple[str, datetime], tuple[int, Decimal]] = defaultdict(lambda: (0, Decimal(0)))
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            day = datetime.strptime(row["Purchase_Date"], "%d-%m-%Y").replace(tzinfo=UTC)
            count, money = totals[(row["User_ID"], day)]
            totals[(row["User_ID"], day)] = (
                count + 1,
                money + Decimal(row["Final_Price(Rs.)"]).quantize(CENT, ROUND_HALF_UP),
            )
    wanted = {}
    for (user, day), (count, money) in totals.items():
        version = rollup_layout.totals_timestamp_micros(int((day + timedelta(days=1)).timestamp()) * 1000, count)
        wanted[f"user#{user}#{day:%Y%m%d}".encode()] = {
            b"count": [(str(count).encode(), version)],
            b"spend": [(f"{money:.2f}".encode(), version)],
        }
    assert len(wanted) > 10
    assert rollups_of(resources, b"user#") == wanted
    minutes = rollups_of(resources, b"category#")
    assert sum(int(cells[b"count"][0][0]) for cells in minutes.values()) == len(picked) + 3
    assert all(key.endswith(b"0000") for key in minutes), "a backfill's events are at 00:00 of their purchase date"
