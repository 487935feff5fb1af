"""The rollups in Beam's own streaming test harness (``TestStream`` on the direct runner):
early firings every 10 s of processing time, the on-time firing at the watermark, late
firings within the allowed lateness, the ``rollup_too_late`` counter after it, and a
transaction counted once however often it arrives. Each firing's exact totals are checked
(what ``WriteRollups`` then makes exact across writers is tested on the emulator)."""

import random
import threading

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing import test_stream
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from tests.rows import NO_SOURCE
from transactions import rollup_layout
from transactions.contract import Transaction
from transactions.formats import format_cents
from transactions_pipeline import metrics
from transactions_pipeline.rollups import (
    DistinctSales,
    RollupFiring,
    _PartialsFn,
    encode_shard,
    merge_shard,
    rollup_rows,
)
from transactions_pipeline.rows import BigtableRow, to_row

MINUTE_MS = 60_000
T0 = 1_764_969_600_000  # 2025-12-05T21:20:00Z, a minute's start
_FIRINGS: list[tuple[bytes, dict]] = []
_PARTIALS: list[tuple[str, tuple]] = []
_LOCK = threading.Lock()


def row(transaction_id: str, event_ms: int, final_price: str = "10.00", user="u1", category="Books") -> BigtableRow:
    """A transaction row exactly as the job makes it (:func:`transactions_pipeline.rows.to_row`)."""
    cents = int(final_price.replace(".", ""))
    transaction = Transaction(
        transaction_id, user, "P1", category, final_price, "0", final_price, "UPI", "2025-12-05", event_ms, cents
    )
    return to_row(transaction, NO_SOURCE)


def arriving(element: BigtableRow, arrival_ms: int) -> TimestampedValue:
    """A row as the sink reports it written (a batch of one: its sale and arrival), stamped as the
    stream stamps it: by its publish (arrival) time."""
    return TimestampedValue(((element.sale, arrival_ms),), Timestamp(micros=arrival_ms * 1000))


def _record(firing: RollupFiring) -> None:
    with _LOCK:
        _FIRINGS.append((firing.key, _totals(firing)))


def _totals(firing: RollupFiring) -> dict:
    money = b"revenue" if firing.rollup == "category_minute" else b"spend"
    return {b"count": str(len(firing.sales)).encode(), money: format_cents(sum(firing.sales.values())).encode()}


def _record_partial(partial: tuple, rollup_name: str) -> None:
    with _LOCK:
        _PARTIALS.append((rollup_name, partial))


def run_stream(stream: test_stream.TestStream, rollup=rollup_layout.CATEGORY_MINUTE, lateness=3600) -> list:
    """Every row the rollup emits, in firing order."""
    _FIRINGS.clear()
    options = PipelineOptions([])
    options.view_as(StandardOptions).streaming = True
    pipeline = beam.Pipeline(runner="BundleBasedDirectRunner", options=options)
    rows = rollup_rows(pipeline | stream, streaming=True, allowed_lateness_seconds=lateness)
    rows | beam.Map(RollupFiring._make) | beam.Filter(lambda f: f.rollup == rollup.name) | beam.Map(_record)
    result = pipeline.run()
    result.wait_until_finish()
    return list(_FIRINGS)


def cells(count: int, revenue: str) -> dict:
    return {b"count": str(count).encode(), b"revenue": revenue.encode()}


KEY = rollup_layout.rollup_key(rollup_layout.CATEGORY_MINUTE, "Books", T0)


def test_early_on_time_late_and_too_late_firings_of_one_minute():
    stream = (
        test_stream.TestStream()
        .advance_watermark_to(Timestamp(micros=T0 * 1000))
        .add_elements([arriving(row("t1", T0 + 5_000, "10.00"), T0 + 5_000)])
        .add_elements([arriving(row("t2", T0 + 20_000, "2.50"), T0 + 20_000)])
        .advance_processing_time(11)  # early firing: the minute so far
        .add_elements([arriving(row("t1", T0 + 5_000, "10.00"), T0 + 25_000)])  # a redelivery of t1
        .add_elements([arriving(row("t3", T0 + 30_000, "0.01"), T0 + 30_000)])
        .advance_processing_time(11)  # early firing: t3 in, t1 still once
        .advance_watermark_to(Timestamp(micros=(T0 + 2 * MINUTE_MS) * 1000))  # on time
        .add_elements([arriving(row("t4", T0 + 40_000, "100.00"), T0 + 30 * MINUTE_MS)])  # 30 min late
        .add_elements([arriving(row("t5", T0 + 50_000, "7.00"), T0 + 62 * MINUTE_MS)])  # past 1 h: too late
        .advance_watermark_to_infinity()
    )
    assert run_stream(stream) == [
        (KEY, cells(2, "12.50")),  # early
        (KEY, cells(3, "12.51")),  # early, the redelivered t1 not counted again
        (KEY, cells(3, "12.51")),  # on time
        (KEY, cells(4, "112.51")),  # late, within the allowed lateness
    ]  # and t5, 62 minutes late, in none of them


def test_too_late_events_are_counted_not_dropped_silently():
    """The stream's partials step, run on the FnApiRunner: the streaming direct runner that runs
    TestStream reports user counters unreliably (it kept 1 of 3 increments made in separate
    bundles, in a check of Beam itself). The decision is taken against each element's own
    (arrival) timestamp, as in the stream."""
    elements = [
        arriving(row("on-time", T0 + 1_000), T0 + 1_000),
        arriving(row("late", T0 + 2_000), T0 + 61 * MINUTE_MS),  # exactly at the limit: kept
        arriving(row("too-late-1", T0 + 3_000), T0 + 61 * MINUTE_MS + 1),
        arriving(row("too-late-2", T0 + 4_000), T0 + 5 * 60 * MINUTE_MS),
    ]
    pipeline = beam.Pipeline(runner="FnApiRunner")
    names = [r.name for r in rollup_layout.ROLLUPS]
    partials = pipeline | beam.Create(elements) | beam.ParDo(_PartialsFn(3600)).with_outputs(*names)
    for name in names:
        partials[name] | f"Record{name}" >> beam.Map(_record_partial, name)
    _PARTIALS.clear()
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_name(metrics.ROLLUP_TOO_LATE))["counters"]
    # (event, rollup) pairs: both too-late events miss their minute; the day ends at 00:00, 2 h 40
    # after T0, so only too-late-2 (5 h after T0) misses it too.
    assert [c.committed for c in counters] == [3]
    ids = {name: sorted(t for n, (_, sales) in _PARTIALS if n == name for t in sales) for name in names}
    assert ids == {"category_minute": ["late", "on-time"], "user_day": ["late", "on-time", "too-late-1"]}


def test_a_backfill_has_no_arrival_so_nothing_is_too_late():
    pipeline = beam.Pipeline(runner="FnApiRunner")
    late = Timestamp(micros=(T0 + 48 * 60 * MINUTE_MS) * 1000)  # stamped 2 days late, yet a backfill: no arrival
    elements = [TimestampedValue(((row("old", T0).sale, None),), late)]
    rows = rollup_rows(pipeline | beam.Create(elements), streaming=False, allowed_lateness_seconds=3600)
    rows | beam.Map(RollupFiring._make) | beam.Filter(lambda f: f.rollup == "category_minute") | beam.Map(_record)
    _FIRINGS.clear()
    pipeline.run().wait_until_finish()
    assert [(KEY, cells(1, "10.00"))] == _FIRINGS


def test_the_allowed_lateness_is_a_parameter():
    def stream():
        return (
            test_stream.TestStream()
            .advance_watermark_to(Timestamp(micros=(T0 + 10 * MINUTE_MS) * 1000))
            .add_elements([arriving(row("t1", T0, "1.00"), T0 + 10 * MINUTE_MS)])  # 9 min after the minute ends
            .advance_watermark_to_infinity()
        )

    assert run_stream(stream(), lateness=600) == [(KEY, cells(1, "1.00"))]
    assert run_stream(stream(), lateness=300) == []


def test_per_user_days_in_utc():
    day_start = T0 - T0 % 86_400_000
    stream = (
        test_stream.TestStream()
        .advance_watermark_to(Timestamp(micros=day_start * 1000))
        .add_elements([arriving(row("a", day_start + 1, "1.10", user="ana"), day_start + 1)])
        .add_elements([arriving(row("b", day_start + 86_399_999, "2.20", user="ana"), day_start + 86_399_999)])
        .add_elements([arriving(row("c", day_start + 86_400_000, "4.00", user="ana"), day_start + 86_400_000)])
        .advance_watermark_to_infinity()
    )
    firings = run_stream(stream, rollup=rollup_layout.USER_DAY)
    first = rollup_layout.rollup_key(rollup_layout.USER_DAY, "ana", day_start)
    second = rollup_layout.rollup_key(rollup_layout.USER_DAY, "ana", day_start + 86_400_000)
    assert sorted(firings) == [
        (first, {b"count": b"2", b"spend": b"3.30"}),
        (second, {b"count": b"1", b"spend": b"4.00"}),
    ]


def test_distinct_sales_count_a_transaction_once_across_merged_accumulators():
    fn = DistinctSales()
    first = fn.add_input(fn.add_input(fn.create_accumulator(), {"t1": 100}), {"t1": 100})
    second = fn.add_input(fn.create_accumulator(), {"t1": 100, "t2": 250})
    assert fn.extract_output(fn.merge_accumulators([first, second])) == {"t1": 100, "t2": 250}


def test_counted_transactions_round_trip_through_ids_cells_in_parts(monkeypatch):
    monkeypatch.setattr(rollup_layout, "PART_BYTES", 64)
    sales = {f"run:0:{n}": n * 7 for n in range(40)}
    parts = rollup_layout.encode_sales(sales)
    assert len(parts) > 5 and all(len(part) <= 64 for part in parts)
    decoded: dict = {"run:0:3": 999}  # an id already counted keeps its cents
    for part in parts:
        rollup_layout.decode_sales(part, decoded)
    assert decoded == {**sales, "run:0:3": 999}


def test_a_total_that_counts_more_is_the_newer_version():
    end = T0 + MINUTE_MS
    assert rollup_layout.totals_timestamp_micros(end, 41) > rollup_layout.totals_timestamp_micros(end, 40)
    assert rollup_layout.totals_timestamp_micros(end, 1) > end * 1000  # newer than the first layout's cells
    assert rollup_layout.totals_timestamp_micros(end, 7) % 1000 == 0  # Bigtable wants whole milliseconds


def test_money_cells_are_read_back_as_exact_cents():
    assert [rollup_layout.cents(b) for b in (b"0.01", b"332.00", b"1234567.89")] == [1, 33200, 123456789]


@pytest.mark.parametrize("category", ["Books", "A#B", "#", "Home & Kitchen"])
def test_rollup_keys_read_back_from_the_right(category):
    key = rollup_layout.rollup_key(rollup_layout.CATEGORY_MINUTE, category, T0)
    assert key == f"category#{category}#202512052120".encode()
    assert rollup_layout.parse_rollup_key(key) == (rollup_layout.CATEGORY_MINUTE, category, T0)


_KEYED: list[tuple[bytes, dict]] = []


def _record_keyed(firing: RollupFiring) -> None:
    with _LOCK:
        _KEYED.append((firing.key, firing.sales))


@pytest.mark.parametrize("held", [20_000, 7], ids=["one send per bundle", "sent every 7 sales"])
def test_a_backfill_keyed_by_window_gives_each_window_its_transactions_once(monkeypatch, held):
    """A backfill keys its totals by window instead of windowing them (no trigger machinery):
    300 sales over 5 users, 3 categories, 2 days and 7 minutes, 40 of them written twice, give
    one firing per window holding exactly its transactions (the sets the test makes itself);
    the same when ``RollupPartials`` sends its windows on whenever they hold 7 sales (its memory
    bound), so that a window's partials come from several sends and are merged after the shuffle."""
    from transactions_pipeline import rollups

    monkeypatch.setattr(rollups, "MAX_BACKFILL_SALES_HELD", held)
    rows = [
        row(f"t{i}", T0 + (i % 2) * 86_400_000 + (i % 7) * MINUTE_MS + i, f"{i % 50}.25", f"u{i % 5}", f"c{i % 3}")
        for i in range(300)
    ]
    expected: dict[bytes, dict[str, int]] = {}
    for r in rows:
        sale = r.sale
        for rollup, name in ((rollup_layout.CATEGORY_MINUTE, sale.category), (rollup_layout.USER_DAY, sale.user_id)):
            key = rollup_layout.rollup_key(rollup, name, rollup_layout.window_start_ms(rollup, sale.event_time_ms))
            expected.setdefault(key, {})[sale.transaction_id] = sale.cents
    written = [((r.sale, None),) for r in rows]
    pipeline = beam.Pipeline(runner="FnApiRunner")
    firings = rollup_rows(
        pipeline | beam.Create(written + written[:40]), streaming=False, allowed_lateness_seconds=3600
    )
    firings | beam.Map(RollupFiring._make) | beam.Map(_record_keyed)
    _KEYED.clear()
    pipeline.run().wait_until_finish()
    assert len(expected) == 5 * 2 + 3 * 2 * 7
    assert sorted(_KEYED) == sorted(expected.items())


def test_a_shard_sent_twice_merges_to_each_window_once():
    """Two sends of one shard (a window in both, with one transaction in both) merge into the
    union per window, per rollup: the first value of a transaction id kept."""
    first = {"user_day": {("u1", 0): {"t1": 100, "t2": 200}}, "category_minute": {("Books", 0): {"t1": 100}}}
    second = {"user_day": {("u1", 0): {"t2": 999, "t3": 300}, ("u2", 0): {"t4": 400}}}
    merged: dict = {}
    for send in (first, second):
        merge_shard(merged, encode_shard(send))
    assert merged == {
        "user_day": {("u1", 0): {"t1": 100, "t2": 200, "t3": 300}, ("u2", 0): {"t4": 400}},
        "category_minute": {("Books", 0): {"t1": 100}},
    }


def test_a_window_of_one_sale_travels_in_under_48_bytes():
    """What ``encode_shard``'s docstring promises, on a backfill's own shapes: one shard's user
    ids (scattered, as the shard's CRC scatters them), one day, ``csv-<12 hex>:<offset>`` ids and
    cents, one window per sale."""
    rng = random.Random(29)
    day_ms = 1_733_356_800_000
    windows = {
        (f"{rng.getrandbits(40):010x}", day_ms): {f"csv-0f1e2d3c4b5a:{rng.randrange(10**9)}": rng.randrange(100_000)}
        for _ in range(2_000)
    }
    assert len(encode_shard({"user_day": windows})) < 48 * len(windows)


def test_a_backfill_sends_its_windows_once_they_hold_max_sales_even_in_one_window(monkeypatch):
    """The bound counts sales, once per rollup, not windows: one user's one day in one category,
    five sales, is 10 sales held (2 windows) and goes at 10; then nothing is held."""
    from transactions_pipeline import rollups

    monkeypatch.setattr(rollups, "MAX_BACKFILL_SALES_HELD", 10)
    fn = _PartialsFn(3600, streaming=False)
    fn.start_bundle()
    sales = [(row(f"t{i}", T0 + i).sale, None) for i in range(6)]
    assert fn.process(sales[:4]) is None  # 8 held
    sent = fn.process(sales[4:5])  # 10 held: sent
    assert sent is not None
    merged: dict = {}
    for _shard, encoded in sent:
        merge_shard(merged, encoded)
    five = {f"t{i}": 1000 for i in range(5)}
    assert merged == {
        rollup_layout.CATEGORY_MINUTE.name: {("Books", T0 - T0 % MINUTE_MS): five},
        rollup_layout.USER_DAY.name: {("u1", T0 - T0 % 86_400_000): five},
    }
    assert fn.process(sales[5:]) is None  # 2 held: the count started again


@pytest.fixture
def python_gc_thresholds():
    import gc

    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold
    gc.set_threshold(*saved)


def test_a_backfill_relaxes_the_collector_where_windows_are_made_and_merged(python_gc_thresholds):
    """Both of a backfill's steps that allocate per window raise the young generation's threshold
    (either may be the first to run in a worker process); the stream keeps Python's."""
    import gc

    from transactions_pipeline.rollups import BACKFILL_GC_THRESHOLDS, _ShardToFiringsFn

    _PartialsFn(3600, streaming=True).setup()
    assert python_gc_thresholds() == (700, 10, 10)
    _PartialsFn(3600, streaming=False).setup()
    assert python_gc_thresholds() == BACKFILL_GC_THRESHOLDS
    gc.set_threshold(700, 10, 10)
    _ShardToFiringsFn().setup()
    assert python_gc_thresholds() == BACKFILL_GC_THRESHOLDS
