"""Live rollups: per category and minute, per user and day, in event time, exact across restarts.

From the transaction rows the sink *wrote* (its ``written`` output: a row that became a dead
letter is not counted, and counts once it is replayed and written):

1. ``RollupPartials``: reads each sale once (amount and category are fields of the row's
   :class:`~transactions_pipeline.rows.Sale`) and, within the bundle, sums it into a partial per
   rollup, name (category or user) and window: ``{transaction_id: cents}``. An event that arrived
   later than its window's end plus the allowed lateness counts ``rollup_too_late`` instead, for
   that rollup (its transaction row is written all the same). Arrival is the message's publish
   time; a backfill's lines have none, so nothing is late in a backfill. Each partial leaves
   stamped at its window's start.

In the stream, per rollup (``RollupCategoryMinutes``, ``RollupUserDays``), then ``CollectRollups``:

2. ``Window``: fixed windows (a minute, a UTC day): early firings every 10 s of processing time
   while the window is open, the on-time firing when the watermark passes its end, one firing per
   late partial after that; panes accumulate. Beam keeps a window's state for the allowed
   lateness plus a margin, so the decision in step 1 (made against the arrival, deterministic)
   is the one that counts.
3. ``Totals``: per name and window, the union of the partials, first value per transaction id:
   the transactions this job counted for the window, each once however often it was redelivered.
4. ``ToRows``: a :class:`RollupFiring` of the window, as a plain tuple (:data:`FiringFields`):
   firings cross from both rollups' steps into one sink, and Beam's coder encodes a tuple in C
   where it would pickle a NamedTuple, one by one.

A backfill wants one result per window and no early or late firing, so it does not window at
all (``docs/performance.md``, "The rollups at realistic cardinality"): ``RollupPartials`` sends
both rollups' windows in shards (:data:`BACKFILL_SHARDS` keys, one compressed ``bytes`` per shard
and send: :func:`encode_shard`), ``RollupShards`` groups them, and ``RollupTotals`` merges each
shard window by window into the same firings. No trigger machinery, no Beam element per window,
and no flatten: the firings go on to the sink in the same stage.

5. ``WriteRollups`` (:mod:`transactions_pipeline.rollup_sink`, a module of its own: this one
   computes, that one writes) makes the totals exact across everything any writer ever counted
   for the window.

The step names are part of the update-compatibility contract (``docs/rollups.md``).
"""

from __future__ import annotations

import gc
import hashlib
import pickle
import secrets
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.transforms.window import GlobalWindows
from apache_beam.typehints import typehints
from apache_beam.utils.timestamp import Duration, Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from transactions import rollup_layout
from transactions.rollup_layout import Rollup
from transactions_pipeline import metrics
from transactions_pipeline.rows import Sale

STEP_PARTIALS = "RollupPartials"
STEP_CATEGORY_MINUTES = "RollupCategoryMinutes"
STEP_USER_DAYS = "RollupUserDays"
STEP_COLLECT = "CollectRollups"
STEP_WRITE = "WriteRollups"
STEP_PUBLISH_DEAD_LETTERS = "PublishRollupDeadLetters"
STEP_BACKFILL_SHARDS = "RollupShards"
STEP_BACKFILL_TOTALS = "RollupTotals"
STEPS = {rollup_layout.CATEGORY_MINUTE: STEP_CATEGORY_MINUTES, rollup_layout.USER_DAY: STEP_USER_DAYS}
"""Each rollup's own steps in the stream (``Window``, ``Totals``, ``ToRows``, ``Global``) under its name."""
BACKFILL_STEPS = (STEP_PARTIALS, STEP_BACKFILL_SHARDS, STEP_BACKFILL_TOTALS, STEP_WRITE, STEP_PUBLISH_DEAD_LETTERS)
"""A backfill's rollup steps (a batch job is never updated: its graph may differ from the stream's)."""

EARLY_FIRING_SECONDS = 10
LATENESS_MARGIN_SECONDS = 600
"""Beam's own allowed lateness exceeds ours by this much, so that Beam never drops an event that
``RollupPartials`` let through (the watermark may run a little ahead of an element's arrival)."""

BY_NAME = {rollup.name: rollup for rollup in rollup_layout.ROLLUPS}

Sales = dict[str, int]
"""transaction id -> cents: what a window counts, each transaction once."""


def writer_generation(streaming: bool, input_file: str | None) -> str:
    """Whose counts these are, for the ``ids`` family: a stream's run (a new one at every launch:
    a relaunched job starts with empty windows and must not overwrite what an earlier run counted),
    or a backfill's input (running the same backfill again rewrites its own counts)."""
    if streaming or not input_file:
        return f"s{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    return "b" + hashlib.sha1(input_file.encode(), usedforsecurity=False).hexdigest()[:12]


Written = Iterable[tuple[Sale, "int | None"]]
"""What the sink reports of one settled batch: each written row's sale and arrival (ms, or None)."""


class _PartialsFn(beam.DoFn):
    """Written-row batches -> per rollup, one partial ``{transaction_id: cents}`` per window and bundle.

    One pass reads each sale once for both rollups and sums within the bundle (as Beam's
    combiner lifting would, but before windowing, whose per-element cost in Python is several
    times that of the sum). In the stream a partial is ``(name, sales)`` stamped at its window's
    start, so ``Window`` puts it there; in a backfill the windows of both rollups go out in
    shards, ``(shard, bytes)`` (:func:`encode_shard`), in the global window, whenever they hold
    :data:`MAX_BACKFILL_SALES_HELD` sales and at the bundle's end.
    """

    def __init__(self, allowed_lateness_seconds: int, streaming: bool = True) -> None:
        self._lateness_ms = allowed_lateness_seconds * 1000
        self._streaming = streaming
        self._too_late = Metrics.counter(metrics.NAMESPACE, metrics.ROLLUP_TOO_LATE)

    def setup(self) -> None:
        if not self._streaming:
            relax_gc_for_backfill()

    def start_bundle(self) -> None:
        self._partials: dict[str, dict[tuple[str, int], Sales]] = {rollup.name: {} for rollup in rollup_layout.ROLLUPS}
        # (partials, window size in ms, keyed by category (else by user)) for each rollup
        self._targets = [
            (self._partials[r.name], r.window_seconds * 1000, r.keyed_by == "category") for r in rollup_layout.ROLLUPS
        ]
        self._bundle_too_late = 0
        self._sales_held = 0

    def process(self, written: Written) -> list[tuple[int, bytes]] | None:
        lateness = self._lateness_ms
        targets = self._targets
        for sale, arrival_ms in written:
            event_ms = sale.event_time_ms
            transaction_id = sale.transaction_id
            latest_end_ms = None if arrival_ms is None else arrival_ms - lateness
            for partials, size, by_category in targets:
                start = event_ms - event_ms % size
                if latest_end_ms is not None and start + size < latest_end_ms:  # an earlier end is too late
                    self._bundle_too_late += 1
                    continue
                window_key = (sale.category if by_category else sale.user_id, start)
                sales = partials.get(window_key)
                if sales is None:
                    partials[window_key] = {transaction_id: sale.cents}
                    self._sales_held += 1
                elif transaction_id not in sales:
                    sales[transaction_id] = sale.cents
                    self._sales_held += 1
        if not self._streaming and self._sales_held >= MAX_BACKFILL_SALES_HELD:
            return self._backfill_shards()  # a bundle may be a whole file: its memory stays bounded
        return None

    def finish_bundle(self) -> Iterator[WindowedValue | beam.pvalue.TaggedOutput]:
        if self._bundle_too_late:
            self._too_late.inc(self._bundle_too_late)
        windowed_value = GlobalWindows.windowed_value
        if not self._streaming:  # a backfill's: in the global window, as its input
            for shard in self._backfill_shards():
                yield windowed_value(shard)
            return
        for rollup_name, partials in self._partials.items():
            for (name, start_ms), sales in partials.items():
                partial = windowed_value((name, sales), Timestamp(micros=start_ms * 1000))
                yield beam.pvalue.TaggedOutput(rollup_name, partial)

    def _backfill_shards(self) -> list[tuple[int, bytes]]:
        """The windows held so far, both rollups', as ``(shard, encode_shard(its windows))``
        pairs; then none held."""
        shards: dict[int, ShardWindows] = {}
        for rollup_name, partials in self._partials.items():
            for window_key, sales in partials.items():
                shards.setdefault(shard_of(window_key), {}).setdefault(rollup_name, {})[window_key] = sales
            partials.clear()
        self._sales_held = 0
        return [(shard, encode_shard(windows)) for shard, windows in shards.items()]


BACKFILL_GC_THRESHOLDS = (20_000, 10, 10)
"""Python's collector thresholds in a backfill's worker process once its rollups start (Python's
own: 700, 10, 10). A backfill with rollups allocates a few small containers per window, a hundred
thousand windows a bundle, and with the defaults the collector runs every 700 of them, walking the
young objects and, ever more often as the heap grows, the old ones: 11-23% of the whole run's
wall-clock time, measured on 100,000 one-window lines (``docs/performance.md``). The young
generation's threshold goes up; the older generations' stay Python's. Garbage in a cycle lives a
little longer; nothing else changes. The stream keeps Python's defaults."""


def relax_gc_for_backfill() -> None:
    """:data:`BACKFILL_GC_THRESHOLDS`, for this process (idempotent: every DoFn copy may call it)."""
    gc.set_threshold(*BACKFILL_GC_THRESHOLDS)


WindowKey = tuple[str, int]
"""(name, window start ms): a window of one rollup."""
MAX_BACKFILL_SALES_HELD = 40_000
"""A backfill's ``RollupPartials`` sends its windows on once they hold this many sales (a sale
counts once per rollup): a Dataflow bundle can be a whole file, and without a bound its partials
would grow with it, in windows (a line per user-day) or in the sales of a few large ones. A
window held again later is merged after the shuffle, so the totals do not change."""
BACKFILL_SHARDS = 256
"""How many keys a backfill groups its windows under. Few enough that Beam's per-element work is
per bundle and shard, not per window (which cost more than the rollups' own work); enough for
Dataflow to spread the combining over many workers."""


def shard_of(window_key: WindowKey) -> int:
    """The shard of a window: the same on every worker (``hash()`` of a string is not)."""
    name, start_ms = window_key
    return zlib.crc32(name.encode(), start_ms & 0xFFFFFFFF) % BACKFILL_SHARDS


def add_sales(into: Sales, sales: Sales) -> None:
    """Count ``sales`` in ``into``, each transaction once: an id already there keeps its cents."""
    for transaction_id, cents in sales.items():
        into.setdefault(transaction_id, cents)


class DistinctSales(beam.CombineFn):
    """Partials ``{transaction_id: cents}`` -> their union, each transaction id once."""

    def create_accumulator(self) -> Sales:
        return {}

    def add_input(self, accumulator: Sales, sales: Sales) -> Sales:
        if not accumulator:
            return dict(sales)  # the usual first partial: copied in C
        add_sales(accumulator, sales)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[Sales]) -> Sales:
        merged: Sales = {}
        for accumulator in accumulators:
            add_sales(merged, accumulator)
        return merged

    def extract_output(self, accumulator: Sales) -> Sales:
        return accumulator


ShardWindows = dict[str, dict[WindowKey, Sales]]
"""One shard's windows: rollup name -> ``{(name, window start ms): sales}``."""


def encode_shard(windows: ShardWindows) -> bytes:
    """A shard's windows as one compressed ``bytes`` for the shuffle: what a runner holds and
    moves per window of one sale is under 48 bytes (a test holds it to that), where Beam's own
    coding of the same dicts took several times that, and the local runner, which groups in this
    process, held them decoded (``docs/performance.md``, "Memory"). Pickle, because both ends
    are this job's own code: nothing from outside is ever decoded with it."""
    return zlib.compress(pickle.dumps(windows, protocol=pickle.HIGHEST_PROTOCOL), 1)


def merge_shard(into: ShardWindows, encoded: bytes) -> None:
    """Add one send of a shard (:func:`encode_shard`) to ``into``: per window, the union of its
    partials (:class:`DistinctSales`, window by window)."""
    windows: ShardWindows = pickle.loads(zlib.decompress(encoded))  # this job's own bytes (encode_shard)
    for rollup_name, partials in windows.items():
        merged = into.get(rollup_name)
        if merged is None:  # the shard's first send of this rollup: taken whole, decoded just now
            into[rollup_name] = partials
            continue
        for window_key, sales in partials.items():
            found = merged.get(window_key)
            if found is None:
                merged[window_key] = sales
            else:
                add_sales(found, sales)


class RollupFiring(NamedTuple):
    """One firing of one window: the transactions this job counted for it so far, and the
    window's row key (made once, here: the sink uses it four times)."""

    rollup: str
    """:attr:`transactions.rollup_layout.Rollup.name`."""
    name: str
    start_ms: int
    sales: Sales
    key: bytes

    @classmethod
    def of(cls, rollup: Rollup, name: str, start_ms: int, sales: Sales) -> RollupFiring:
        return cls._make(firing_fields(rollup, name, start_ms, sales))

    @property
    def end_ms(self) -> int:
        return self.start_ms + BY_NAME[self.rollup].window_seconds * 1000


FiringFields = tuple[str, str, int, Sales, bytes]
"""A :class:`RollupFiring`'s fields, as a firing travels from ``ToRows`` to the sink
(``RollupFiring._make`` takes it back)."""


def firing_fields(rollup: Rollup, name: str, start_ms: int, sales: Sales) -> FiringFields:
    return (rollup.name, name, start_ms, sales, rollup_layout.rollup_key(rollup, name, start_ms))


class _ToFiringsFn(beam.DoFn):
    """``(name, sales)`` in a window -> its firing (:data:`FiringFields`)."""

    def __init__(self, rollup: Rollup) -> None:
        self._rollup = rollup

    def process(
        self,
        total: tuple[str, Sales],
        pane_window: Any = beam.DoFn.WindowParam,  # a window.IntervalWindow
    ) -> Iterator[FiringFields]:
        name, sales = total
        yield firing_fields(self._rollup, name, pane_window.start.micros // 1000, sales)


class _ShardToFiringsFn(beam.DoFn):
    """``(shard, its sends)`` -> a firing per window of both rollups (a backfill's), merged here.

    A shard is merged whole before its first firing, so each worker process holds one shard's
    windows decoded: 1/:data:`BACKFILL_SHARDS` of the backfill's, the ceiling
    ``docs/performance.md`` ("Memory") states for the largest backfills.
    """

    def setup(self) -> None:
        relax_gc_for_backfill()  # this stage may run in a process that never ran RollupPartials

    def process(self, shard: tuple[int, Iterable[bytes]]) -> Iterator[FiringFields]:
        merged: ShardWindows = {}
        for encoded in shard[1]:
            merge_shard(merged, encoded)
        for rollup_name, windows in merged.items():
            rollup = BY_NAME[rollup_name]
            for (name, start_ms), sales in windows.items():
                yield firing_fields(rollup, name, start_ms, sales)


def windowing(rollup: Rollup, allowed_lateness_seconds: int) -> beam.WindowInto:
    """Fixed windows of the rollup's size, with the stream's early, on-time and late firings."""
    return beam.WindowInto(
        window.FixedWindows(rollup.window_seconds),
        trigger=trigger.AfterWatermark(
            early=trigger.AfterProcessingTime(EARLY_FIRING_SECONDS), late=trigger.AfterCount(1)
        ),
        accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
        allowed_lateness=Duration(seconds=allowed_lateness_seconds + LATENESS_MARGIN_SECONDS),
    )


class ComputeRollup(beam.PTransform):
    """One rollup's partials in the stream -> its firings, in the global window."""

    def __init__(self, rollup: Rollup, allowed_lateness_seconds: int) -> None:
        super().__init__()
        self._rollup = rollup
        self._lateness = allowed_lateness_seconds

    def expand(self, partials: beam.PCollection) -> beam.PCollection:
        return (
            partials
            | "Window" >> windowing(self._rollup, self._lateness)
            | "Totals" >> beam.CombinePerKey(DistinctSales())
            | "ToRows" >> beam.ParDo(_ToFiringsFn(self._rollup))
            | "Global" >> beam.WindowInto(window.GlobalWindows())
        )


def rollup_rows(written: beam.PCollection, streaming: bool, allowed_lateness_seconds: int) -> beam.PCollection:
    """Both rollups' firings from the sink's written rows, as one collection."""
    partials_fn = _PartialsFn(allowed_lateness_seconds, streaming)
    if not streaming:  # keyed by shard of windows, in the global window: no trigger to run
        # A plain GroupByKey, merged in RollupTotals: a combine would be lifted before the shuffle,
        # and its per-shard accumulators would hold the whole bundle's windows. No Flatten: the
        # firings go on to WriteRollups in the same stage, never held between stages.
        return (
            written
            | STEP_PARTIALS >> beam.ParDo(partials_fn).with_output_types(typehints.Tuple[int, bytes])
            | STEP_BACKFILL_SHARDS >> beam.GroupByKey()
            | STEP_BACKFILL_TOTALS >> beam.ParDo(_ShardToFiringsFn())
        )
    names = [rollup.name for rollup in rollup_layout.ROLLUPS]
    partials = written | STEP_PARTIALS >> beam.ParDo(partials_fn).with_outputs(*names)
    return [
        partials[rollup.name] | STEPS[rollup] >> ComputeRollup(rollup, allowed_lateness_seconds)
        for rollup in rollup_layout.ROLLUPS
    ] | STEP_COLLECT >> beam.Flatten()
