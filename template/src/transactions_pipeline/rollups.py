"""Live rollups: per category and minute, per user and day, in event time, as absolute totals.

From the valid transaction rows (the same elements the transaction writer takes):

1. ``RollupPartials``: reads each sale once and, within the bundle, sums it into a partial per
   rollup, name (category or user) and window: ``{transaction_id: cents}``. An event that
   arrived later than its window's end plus the allowed lateness counts ``rollup_too_late``
   instead, for that rollup (its transaction row is written all the same). Arrival is the
   element's own timestamp: the publish time in the stream; in a backfill, the minimum
   (nothing is late). Each partial leaves stamped at its window's start.

Then, per rollup (``RollupCategoryMinutes``, ``RollupUserDays``):

2. ``Window``: fixed windows (a minute, a UTC day). In the stream: early firings every 10 s of
   processing time while the window is open, the on-time firing when the watermark passes its
   end, one firing per late partial after that; panes accumulate, so every firing carries the
   window's whole total. Beam keeps a window's state for the allowed lateness plus a margin, so
   the decision in step 1 (made against the arrival, deterministic) is the one that counts.
   In a backfill: the default trigger, one result per window.
3. ``Totals``: per name, the union of the partials, first value per transaction id: a
   transaction counts once, however often it is redelivered or re-published (the local runner
   ignores ``id_label``).
4. ``ToRows``: the key of :mod:`transactions.rollup_layout`, ``count`` and the money sum, with
   the window's end as the cells' timestamp: each firing rewrites the same cells.

The step names below are part of the update-compatibility contract (``docs/rollups.md``).
"""

from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam
import orjson
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Duration, Timestamp

from transactions import attributes, layout, rollup_layout
from transactions.rollup_layout import Rollup
from transactions_pipeline import metrics
from transactions_pipeline.rows import BigtableRow

STEP_PARTIALS = "RollupPartials"
STEP_CATEGORY_MINUTES = "RollupCategoryMinutes"
STEP_USER_DAYS = "RollupUserDays"
STEP_COLLECT = "CollectRollups"
STEP_WRITE = "WriteRollups"
STEP_PUBLISH_DEAD_LETTERS = "PublishRollupDeadLetters"
STEPS = {rollup_layout.CATEGORY_MINUTE: STEP_CATEGORY_MINUTES, rollup_layout.USER_DAY: STEP_USER_DAYS}
"""Each rollup's own steps (``Window``, ``Totals``, ``ToRows``, ``Global``) under its name."""

EARLY_FIRING_SECONDS = 10
LATENESS_MARGIN_SECONDS = 600
"""Beam's own allowed lateness exceeds ours by this much, so that Beam never drops an event that
``RollupPartials`` let through (the watermark may run a little ahead of an element's arrival)."""

_CATEGORY_AT = layout.QUALIFIERS.index(b"category")
_FINAL_PRICE_AT = layout.QUALIFIERS.index(b"final_price")
"""Where the two cells the rollups read sit in a row's cells (``layout.cells`` writes them in
``QUALIFIERS`` order)."""


class _PartialsFn(beam.DoFn):
    """Rows -> per rollup, ``(name, {transaction_id: cents})`` partial totals, one per window and bundle.

    One pass reads each sale once for both rollups and sums within the bundle (as Beam's
    combiner lifting would, but before windowing, whose per-element cost in Python is several
    times that of the sum): an event too late for a rollup counts ``rollup_too_late`` there
    instead. Each partial leaves at its window's start, so ``Window`` puts it in that window.
    """

    def __init__(self, allowed_lateness_seconds: int) -> None:
        self._lateness_ms = allowed_lateness_seconds * 1000
        self._too_late = Metrics.counter(metrics.NAMESPACE, metrics.ROLLUP_TOO_LATE)

    def start_bundle(self) -> None:
        self._partials = {rollup.name: {} for rollup in rollup_layout.ROLLUPS}
        # (partials, window size in ms, keyed by category (else by user)) for each rollup
        self._targets = [
            (self._partials[r.name], r.window_seconds * 1000, r.keyed_by == "category") for r in rollup_layout.ROLLUPS
        ]
        self._bundle_too_late = 0

    def process(self, row: BigtableRow) -> None:
        """A bounded run (a backfill): its elements carry no arrival, so nothing is too late."""
        self._add(row, None)

    def _add(self, row: BigtableRow, arrival_ms: int | None) -> None:
        # The sale, read back from the row's key and cells and left in bytes: this runs once per
        # transaction and is most of what the rollups cost; names are decoded once per partial.
        user_id, event_ms, transaction_id = layout.split_row_key(row.row_key)
        cells = row.cells
        cents = rollup_layout.cents(cells[_FINAL_PRICE_AT][1])
        latest_end_ms = None if arrival_ms is None else arrival_ms - self._lateness_ms
        for partials, size, by_category in self._targets:
            start = event_ms - event_ms % size
            if latest_end_ms is not None and start + size < latest_end_ms:  # an earlier end is too late
                self._bundle_too_late += 1
                continue
            window_key = (cells[_CATEGORY_AT][1] if by_category else user_id, start)
            sales = partials.get(window_key)
            if sales is None:
                partials[window_key] = {transaction_id: cents}
            elif transaction_id not in sales:
                sales[transaction_id] = cents

    def finish_bundle(self):
        if self._bundle_too_late:
            self._too_late.inc(self._bundle_too_late)
        for rollup_name, partials in self._partials.items():
            for (name, start_ms), sales in partials.items():
                partial = GlobalWindows.windowed_value((name.decode(), sales), Timestamp(micros=start_ms * 1000))
                yield beam.pvalue.TaggedOutput(rollup_name, partial)


class _StreamPartialsFn(_PartialsFn):
    """The stream's partials: each element's timestamp is its arrival (the publish time).

    Reading it costs Beam's per-window invoker, about 1.4 µs per element on this machine's
    FnApiRunner; a backfill, which has no arrival times, does not pay it.
    """

    def process(self, row: BigtableRow, arrival=beam.DoFn.TimestampParam) -> None:
        self._add(row, arrival.micros // 1000)


class DistinctTotals(beam.CombineFn):
    """Partials ``{transaction_id: cents}`` -> ``(count, total cents)``, each transaction id once
    (ids as the row key's bytes: they are only compared, never shown)."""

    def create_accumulator(self) -> dict[str, int]:
        return {}

    def add_input(self, accumulator: dict[str, int], sales: dict[str, int]) -> dict[str, int]:
        if not accumulator:
            return dict(sales)  # the usual first partial: copied in C
        for transaction_id, cents in sales.items():
            accumulator.setdefault(transaction_id, cents)
        return accumulator

    def merge_accumulators(self, accumulators) -> dict[str, int]:
        merged: dict[str, int] = {}
        for accumulator in accumulators:
            for transaction_id, cents in accumulator.items():
                merged.setdefault(transaction_id, cents)
        return merged

    def extract_output(self, accumulator: dict[str, int]) -> tuple[int, int]:
        return len(accumulator), sum(accumulator.values())


class RollupSource(NamedTuple):
    """A rollup row's stand-in for a source message: what its dead letter carries."""

    data: bytes
    attributes: dict[str, str]


class _ToRowsFn(beam.DoFn):
    """``(name, (count, cents))`` in a window -> the rollup's Bigtable row, stamped at the window end."""

    def __init__(self, rollup: Rollup) -> None:
        self._rollup = rollup

    def process(self, total, pane_window=beam.DoFn.WindowParam):
        name, (count, cents) = total
        start_ms = pane_window.start.micros // 1000
        key = rollup_layout.rollup_key(self._rollup, name, start_ms)
        cells = rollup_layout.cells(self._rollup, count, cents)
        described = {"key": key.decode(), **{qualifier.decode(): value.decode() for qualifier, value in cells}}
        source = RollupSource(orjson.dumps(described), {attributes.ROLLUP: self._rollup.name})
        yield BigtableRow(key, cells, pane_window.end.micros, source)


def windowing(rollup: Rollup, streaming: bool, allowed_lateness_seconds: int) -> beam.WindowInto:
    """Fixed windows of the rollup's size; in a stream, early, on-time and late firings."""
    windows = window.FixedWindows(rollup.window_seconds)
    if not streaming:
        return beam.WindowInto(windows)
    return beam.WindowInto(
        windows,
        trigger=trigger.AfterWatermark(
            early=trigger.AfterProcessingTime(EARLY_FIRING_SECONDS), late=trigger.AfterCount(1)
        ),
        accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
        allowed_lateness=Duration(seconds=allowed_lateness_seconds + LATENESS_MARGIN_SECONDS),
    )


class ComputeRollup(beam.PTransform):
    """One rollup's partial totals -> its Bigtable rows, in the global window."""

    def __init__(self, rollup: Rollup, streaming: bool, allowed_lateness_seconds: int) -> None:
        super().__init__()
        self._rollup = rollup
        self._streaming = streaming
        self._lateness = allowed_lateness_seconds

    def expand(self, partials):
        return (
            partials
            | "Window" >> windowing(self._rollup, self._streaming, self._lateness)
            | "Totals" >> beam.CombinePerKey(DistinctTotals())
            | "ToRows" >> beam.ParDo(_ToRowsFn(self._rollup))
            | "Global" >> beam.WindowInto(window.GlobalWindows())
        )


def rollup_rows(rows, streaming: bool, allowed_lateness_seconds: int):
    """Both rollups' rows from the valid transaction rows, as one collection."""
    names = [rollup.name for rollup in rollup_layout.ROLLUPS]
    partials_fn = (_StreamPartialsFn if streaming else _PartialsFn)(allowed_lateness_seconds)
    partials = rows | STEP_PARTIALS >> beam.ParDo(partials_fn).with_outputs(*names)
    return [
        partials[rollup.name] | STEPS[rollup] >> ComputeRollup(rollup, streaming, allowed_lateness_seconds)
        for rollup in rollup_layout.ROLLUPS
    ] | STEP_COLLECT >> beam.Flatten()
