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

Then, per rollup (``RollupCategoryMinutes``, ``RollupUserDays``):

2. ``Window``: fixed windows (a minute, a UTC day). In the stream: early firings every 10 s of
   processing time while the window is open, the on-time firing when the watermark passes its
   end, one firing per late partial after that; panes accumulate. In a backfill, one result per
   window. Beam keeps a window's state for the allowed lateness plus a margin, so the decision in
   step 1 (made against the arrival, deterministic) is the one that counts.
3. ``Totals``: per name, the union of the partials, first value per transaction id: the
   transactions this job counted for the window, each once however often it was redelivered.
4. ``ToRows``: a :class:`RollupFiring` of the window.

5. ``WriteRollups`` (:mod:`transactions_pipeline.rollup_sink`, a module of its own: this one
   computes, that one writes) makes the totals exact across everything any writer ever counted
   for the window.

The step names are part of the update-compatibility contract (``docs/rollups.md``).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Duration, Timestamp

from transactions import rollup_layout
from transactions.rollup_layout import Rollup
from transactions_pipeline import metrics

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


class _PartialsFn(beam.DoFn):
    """Written-row batches -> per rollup, ``(name, {transaction_id: cents})``, one per window and bundle.

    One pass reads each sale once for both rollups and sums within the bundle (as Beam's
    combiner lifting would, but before windowing, whose per-element cost in Python is several
    times that of the sum). Each partial leaves at its window's start, so ``Window`` puts it there.
    """

    def __init__(self, allowed_lateness_seconds: int) -> None:
        self._lateness_ms = allowed_lateness_seconds * 1000
        self._too_late = Metrics.counter(metrics.NAMESPACE, metrics.ROLLUP_TOO_LATE)

    def start_bundle(self) -> None:
        self._partials: dict[str, dict[tuple[str, int], Sales]] = {rollup.name: {} for rollup in rollup_layout.ROLLUPS}
        # (partials, window size in ms, keyed by category (else by user)) for each rollup
        self._targets = [
            (self._partials[r.name], r.window_seconds * 1000, r.keyed_by == "category") for r in rollup_layout.ROLLUPS
        ]
        self._bundle_too_late = 0

    def process(self, written) -> None:
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
                elif transaction_id not in sales:
                    sales[transaction_id] = sale.cents

    def finish_bundle(self):
        if self._bundle_too_late:
            self._too_late.inc(self._bundle_too_late)
        for rollup_name, partials in self._partials.items():
            for (name, start_ms), sales in partials.items():
                partial = GlobalWindows.windowed_value((name, sales), Timestamp(micros=start_ms * 1000))
                yield beam.pvalue.TaggedOutput(rollup_name, partial)


class DistinctSales(beam.CombineFn):
    """Partials ``{transaction_id: cents}`` -> their union, each transaction id once."""

    def create_accumulator(self) -> Sales:
        return {}

    def add_input(self, accumulator: Sales, sales: Sales) -> Sales:
        if not accumulator:
            return dict(sales)  # the usual first partial: copied in C
        for transaction_id, cents in sales.items():
            accumulator.setdefault(transaction_id, cents)
        return accumulator

    def merge_accumulators(self, accumulators) -> Sales:
        merged: Sales = {}
        for accumulator in accumulators:
            for transaction_id, cents in accumulator.items():
                merged.setdefault(transaction_id, cents)
        return merged

    def extract_output(self, accumulator: Sales) -> Sales:
        return accumulator


class RollupFiring(NamedTuple):
    """One firing of one window: the transactions this job counted for it so far."""

    rollup: str
    """:attr:`transactions.rollup_layout.Rollup.name`."""
    name: str
    start_ms: int
    sales: Sales

    @property
    def key(self) -> bytes:
        return rollup_layout.rollup_key(BY_NAME[self.rollup], self.name, self.start_ms)

    @property
    def end_ms(self) -> int:
        return self.start_ms + BY_NAME[self.rollup].window_seconds * 1000


class _ToFiringsFn(beam.DoFn):
    """``(name, sales)`` in a window -> its :class:`RollupFiring`."""

    def __init__(self, rollup: Rollup) -> None:
        self._rollup = rollup.name

    def process(self, total, pane_window=beam.DoFn.WindowParam):
        name, sales = total
        yield RollupFiring(self._rollup, name, pane_window.start.micros // 1000, sales)


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
    """One rollup's partial totals -> its firings, in the global window."""

    def __init__(self, rollup: Rollup, streaming: bool, allowed_lateness_seconds: int) -> None:
        super().__init__()
        self._rollup = rollup
        self._streaming = streaming
        self._lateness = allowed_lateness_seconds

    def expand(self, partials):
        return (
            partials
            | "Window" >> windowing(self._rollup, self._streaming, self._lateness)
            | "Totals" >> beam.CombinePerKey(DistinctSales())
            | "ToRows" >> beam.ParDo(_ToFiringsFn(self._rollup))
            | "Global" >> beam.WindowInto(window.GlobalWindows())
        )


def rollup_rows(written, streaming: bool, allowed_lateness_seconds: int):
    """Both rollups' firings from the sink's written rows, as one collection."""
    names = [rollup.name for rollup in rollup_layout.ROLLUPS]
    partials = written | STEP_PARTIALS >> beam.ParDo(_PartialsFn(allowed_lateness_seconds)).with_outputs(*names)
    return [
        partials[rollup.name] | STEPS[rollup] >> ComputeRollup(rollup, streaming, allowed_lateness_seconds)
        for rollup in rollup_layout.ROLLUPS
    ] | STEP_COLLECT >> beam.Flatten()
