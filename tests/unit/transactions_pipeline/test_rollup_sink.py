"""How ``WriteRollups`` cuts its firings into batches (no emulator: the batches are recorded where
the sender thread would take them; ``tests/integration/test_rollups_emulator.py`` writes them)."""

from concurrent.futures import Future

import pytest

from transactions import rollup_layout
from transactions_pipeline import rollup_sink
from transactions_pipeline.bigtable_writer import BigtableTarget, RetryPolicy, WriteOutcome
from transactions_pipeline.rollups import firing_fields

TARGET = BigtableTarget("p", "i", "transacoes_rollups", rollup_layout.FAMILY)
ROW = rollup_sink.RollupRow(b"category#Books#202512052120", (), 0)
NOTHING_WRITTEN = rollup_sink._BatchWritten([], [], WriteOutcome(0, [], 0), 0.0, 0, [], [], None)


class _RecordingSender:
    """Stands for the sender thread: records each batch's windows and their sales."""

    def __init__(self, fn: rollup_sink._WriteRollupsFn) -> None:
        self.batches: list[list[int]] = []
        self.in_flight_at_submit: list[int] = []
        self._fn = fn

    def submit(self, _write_batch, keyed: dict) -> Future:
        self.batches.append([len(firing.sales) for firing in keyed.values()])
        self.in_flight_at_submit.append(len(self._fn._in_flight))
        done: Future = Future()
        done.set_result(NOTHING_WRITTEN)
        return done


def _fn_with_recorded_batches(in_flight: int = 1) -> tuple[rollup_sink._WriteRollupsFn, _RecordingSender]:
    fn = rollup_sink._WriteRollupsFn(TARGET, "b0123456789ab", RetryPolicy(), batches_in_flight=in_flight)
    sender = _RecordingSender(fn)
    fn._sender = sender  # type: ignore[assignment]
    fn.start_bundle()
    return fn, sender


def _firing(name: str, sales: int) -> tuple:
    return firing_fields(rollup_layout.CATEGORY_MINUTE, name, 0, {f"{name}-{i}": 1 for i in range(sales)})


def test_a_batch_goes_once_its_windows_hold_max_sales_per_batch():
    """Three windows of 20,000 sales: the third brings the batch to 60,000 >= 50,000, and it goes;
    the fourth starts the next batch, sent at the bundle's end."""
    assert rollup_sink.MAX_SALES_PER_BATCH == 50_000
    fn, sender = _fn_with_recorded_batches()
    for name in ("a", "b", "c", "d"):
        fn.process(_firing(name, 20_000))
    assert sender.batches == [[20_000, 20_000, 20_000]]
    fn.finish_bundle()
    assert sender.batches == [[20_000, 20_000, 20_000], [20_000]]


def test_a_batch_goes_at_max_firings_per_batch_however_small_its_windows():
    fn, sender = _fn_with_recorded_batches()
    for index in range(rollup_sink.MAX_FIRINGS_PER_BATCH + 1):
        fn.process(_firing(f"w{index}", 1))
    fn.finish_bundle()
    assert [len(batch) for batch in sender.batches] == [rollup_sink.MAX_FIRINGS_PER_BATCH, 1]


def test_two_panes_of_one_window_in_a_batch_count_its_sales_once():
    """The later pane holds the earlier: 30,000 + 30,000 of one window is one window of 30,000,
    under the bound, so nothing goes before the bundle's end."""
    fn, sender = _fn_with_recorded_batches()
    fn.process(_firing("a", 30_000))
    fn.process(_firing("a", 30_000))
    assert sender.batches == []
    fn.finish_bundle()
    assert sender.batches == [[30_000]]


@pytest.mark.parametrize(
    ("in_flight", "seen"),
    [(1, [0, 0, 0]), (rollup_sink.BACKFILL_BATCHES_IN_FLIGHT, [0, 1, 1])],
    ids=["the stream: one at a time", "a backfill: two in flight"],
)
def test_a_batch_is_handed_over_once_fewer_than_batches_in_flight_are_out(in_flight, seen):
    """Three batches of 1,000 windows: the stream settles each before the next goes (a window's
    sets land in the order its firings came); a backfill lets a second go while the first is out,
    and settles the oldest before a third."""
    assert rollup_sink.BACKFILL_BATCHES_IN_FLIGHT == 2
    fn, sender = _fn_with_recorded_batches(in_flight)
    for index in range(3 * rollup_sink.MAX_FIRINGS_PER_BATCH):
        fn.process(_firing(f"w{index}", 1))
    assert sender.in_flight_at_submit == seen
    fn.finish_bundle()
    assert not fn._in_flight


@pytest.mark.parametrize(
    ("source", "in_flight"),
    [
        ({"input_subscription": "projects/local-project/subscriptions/s"}, 1),
        ({"input_file": "gs://b/sales.csv"}, rollup_sink.BACKFILL_BATCHES_IN_FLIGHT),
    ],
    ids=["the stream", "a backfill"],
)
def test_the_job_sends_two_batches_at_once_only_in_a_backfill(source, in_flight):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.pipeline import PipelineVisitor

    from tests.job_config import local_job_config
    from transactions_pipeline.pipeline import build_pipeline

    config = local_job_config(**source, rollups_table="transacoes_rollups")
    pipeline = beam.Pipeline(options=PipelineOptions(["--streaming"] if "input_subscription" in source else []))
    build_pipeline(pipeline, config)
    found: list[int] = []

    class _Sinks(PipelineVisitor):
        def visit_transform(self, node) -> None:
            fn = getattr(node.transform, "fn", None)
            if isinstance(fn, rollup_sink._WriteRollupsFn):
                found.append(fn._batches_in_flight)

    pipeline.visit(_Sinks())
    assert found == [in_flight]


def test_a_backfill_settles_every_batch_in_flight_oldest_first_before_its_bundle_ends():
    """Each batch's dead letters and metrics are taken on the bundle's thread (``_settle``), in
    the order the batches went, and none is left out at the bundle's end."""
    fn, sender = _fn_with_recorded_batches(rollup_sink.BACKFILL_BATCHES_IN_FLIGHT)
    settled: list[int] = []

    def account(rows: list, counted: list, outcome: WriteOutcome, dead: list) -> None:
        settled.append(len(rows))

    fn._account = account  # type: ignore[method-assign]
    sizes = iter(range(1, 10))

    def written(_write_batch, keyed: dict) -> Future:
        done: Future = Future()
        count = next(sizes)
        done.set_result(NOTHING_WRITTEN._replace(sets=[ROW] * count, totals_outcome=None))
        return done

    sender.submit = written  # type: ignore[method-assign]
    for index in range(3 * rollup_sink.MAX_FIRINGS_PER_BATCH + 1):
        fn.process(_firing(f"w{index}", 1))
    assert settled == [1]  # two in flight: the third batch's hand-over settled the first
    fn.finish_bundle()
    assert settled == [1, 2, 3, 4] and not fn._in_flight


def test_batches_in_flight_is_at_least_one_and_more_only_for_a_bounded_input():
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.test_stream import TestStream

    with pytest.raises(ValueError, match="at least 1"):
        rollup_sink._WriteRollupsFn(TARGET, "g", RetryPolicy(), batches_in_flight=0)
    stream = beam.Pipeline(options=PipelineOptions(["--streaming"])) | TestStream().advance_watermark_to_infinity()
    with pytest.raises(ValueError, match="one batch at a time"):
        _ = stream | rollup_sink.WriteRollups(TARGET, "g", batches_in_flight=2)
    _ = stream | "OneAtATime" >> rollup_sink.WriteRollups(TARGET, "g")
