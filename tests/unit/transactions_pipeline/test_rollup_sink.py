"""How ``WriteRollups`` cuts its firings into batches (no emulator: the batches are recorded where
the sender thread would take them; ``tests/integration/test_rollups_emulator.py`` writes them)."""

from concurrent.futures import Future

from transactions import rollup_layout
from transactions_pipeline import rollup_sink
from transactions_pipeline.bigtable_writer import BigtableTarget, RetryPolicy, WriteOutcome
from transactions_pipeline.rollups import firing_fields

TARGET = BigtableTarget("p", "i", "transacoes_rollups", rollup_layout.FAMILY)
NOTHING_WRITTEN = rollup_sink._BatchWritten([], [], WriteOutcome(0, [], 0), 0.0, 0, [], [], None)


class _RecordingSender:
    """Stands for the sender thread: records each batch's windows and their sales."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def submit(self, _write_batch, keyed: dict) -> Future:
        self.batches.append([len(firing.sales) for firing in keyed.values()])
        done: Future = Future()
        done.set_result(NOTHING_WRITTEN)
        return done


def _fn_with_recorded_batches() -> tuple[rollup_sink._WriteRollupsFn, _RecordingSender]:
    fn = rollup_sink._WriteRollupsFn(TARGET, "b0123456789ab", RetryPolicy())
    sender = _RecordingSender()
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
