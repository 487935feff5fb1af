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

5. ``WriteRollups`` (:class:`WriteRollups`) makes the totals exact across everything any writer
   ever counted for the window: it writes this job's set under its own *generation* (family
   ``ids``), reads every other generation's set of the same windows (one read per batch of
   firings), and writes the union's count and money (family ``agg``), versioned by count
   (:func:`transactions.rollup_layout.totals_timestamp_micros`). ``docs/rollups.md`` says why this
   stays exact after a drain and restart, an update, an overlapping backfill and a re-published
   message, and what it costs.

The step names are part of the update-compatibility contract (``docs/rollups.md``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import NamedTuple

import apache_beam as beam
import orjson
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.transforms.display import DisplayDataItem
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Duration, Timestamp

from transactions import attributes, rollup_layout
from transactions.dead_letters import dead_letter
from transactions.formats import format_cents
from transactions.rollup_layout import Rollup
from transactions_pipeline import metrics
from transactions_pipeline.bigtable_sink import ConnectionFactory, bigtable_connection
from transactions_pipeline.bigtable_writer import BigtableBatchWriter, BigtableTarget, RetryPolicy
from transactions_wire.bigtable import encode_entry

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
MAX_FIRINGS_PER_BATCH = 500
"""Firings written (and their windows read) together: one read and two writes per batch."""
READ_TIMEOUT_SECONDS = 300.0

_BY_NAME = {rollup.name: rollup for rollup in rollup_layout.ROLLUPS}
_LOG = logging.getLogger(__name__)

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


class RollupRow(NamedTuple):
    """One row of the rollups table, as the wire encoder takes it; a refused one's dead letter is
    built from its window (:func:`_rollup_source`), so it carries no source message."""

    row_key: bytes
    cells: tuple[tuple[bytes, bytes], ...]
    timestamp_micros: int


class RollupFiring(NamedTuple):
    """One firing of one window: the transactions this job counted for it so far."""

    rollup: str
    """:attr:`transactions.rollup_layout.Rollup.name`."""
    name: str
    start_ms: int
    sales: Sales

    @property
    def key(self) -> bytes:
        return rollup_layout.rollup_key(_BY_NAME[self.rollup], self.name, self.start_ms)

    @property
    def end_ms(self) -> int:
        return self.start_ms + _BY_NAME[self.rollup].window_seconds * 1000


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


class RollupSource(NamedTuple):
    """A rollup's stand-in for a source message: what its dead letter carries."""

    data: bytes
    attributes: dict[str, str]


class _WriteRollupsFn(beam.DoFn):
    """Firings -> exact totals in Bigtable, in batches; the dead letters of windows not written.

    Per batch: (1) this generation's sets, family ``ids`` (one write); (2) every other
    generation's sets of the same windows (one read); (3) the union's totals, family ``agg``,
    versioned by count (one write). Writing (1) before reading (2) is what makes two writers of
    one window safe: of any two, the later reader sees the earlier one's set, and its total,
    counting more, is the one Bigtable keeps.
    """

    def __init__(
        self,
        target: BigtableTarget,
        generation: str,
        policy: RetryPolicy,
        client_factory: ConnectionFactory = bigtable_connection,
        adaptive_throttling: bool = False,
    ) -> None:
        self._target = target
        self._generation = generation
        self._policy = policy
        self._client_factory = client_factory
        self._adaptive_throttling = adaptive_throttling
        self._written = Metrics.counter(metrics.NAMESPACE, metrics.ROLLUP_WRITTEN)
        self._retries = Metrics.counter(metrics.NAMESPACE, metrics.ROLLUP_PREFIX + metrics.WRITE_RETRIES)
        self._failed = Metrics.counter(metrics.NAMESPACE, metrics.ROLLUP_PREFIX + metrics.WRITE_FAILED)
        self._rows_per_call = Metrics.distribution(
            metrics.NAMESPACE, metrics.ROLLUP_PREFIX + metrics.ROWS_PER_WRITE_CALL
        )
        self._merged = Metrics.counter(metrics.NAMESPACE, metrics.ROLLUP_MERGED)

    def display_data(self) -> dict:
        return {
            "table": DisplayDataItem(self._target.table_name, label="Bigtable table"),
            "generation": DisplayDataItem(self._generation, label="Writer generation (ids family)"),
        }

    def setup(self) -> None:
        from google.cloud import bigtable
        from google.cloud.bigtable.row_filters import ColumnRangeFilter, RowFilterUnion

        from transactions_pipeline.bigtable_sink import adaptive_throttler

        target = self._target
        self._connection = self._client_factory(target)
        self._writer = BigtableBatchWriter(
            self._connection.send,
            target,
            self._policy,
            throttler=adaptive_throttler() if self._adaptive_throttling else None,
        )
        self._reader = bigtable.Client(project=target.project)
        self._table = self._reader.instance(target.instance).table(
            target.table, app_profile_id=target.app_profile_id or None
        )
        own = (self._generation + rollup_layout.PART_SEPARATOR).encode()  # this generation's qualifiers
        self._other_generations = RowFilterUnion(
            [
                ColumnRangeFilter(rollup_layout.IDS_FAMILY, end_column=own, inclusive_end=False),
                ColumnRangeFilter(rollup_layout.IDS_FAMILY, start_column=own[:-1] + b"$"),
            ]
        )
        self._throttled = metrics.ThrottledSeconds()

    def teardown(self) -> None:
        for client in (getattr(self, "_connection", None), getattr(self, "_reader", None)):
            if client is not None:
                client.close()

    def start_bundle(self) -> None:
        self._firings: dict[bytes, RollupFiring] = {}

    def process(self, firing: RollupFiring):
        key = firing.key
        earlier = self._firings.get(key)
        if earlier is not None:  # two panes of one window in a bundle: the later holds the earlier
            firing = firing._replace(sales={**firing.sales, **earlier.sales})
        self._firings[key] = firing
        if len(self._firings) >= MAX_FIRINGS_PER_BATCH:
            return self._flush()
        return None

    def finish_bundle(self):
        return self._flush()

    def _flush(self) -> list:
        if not self._firings:
            return []
        firings, self._firings = list(self._firings.values()), {}
        dead: list = []
        counted = [(firing, firing.sales) for firing in firings]
        failed = self._write([self._ids_row(firing) for firing in firings], rollup_layout.IDS_FAMILY, counted, dead)
        firings = [firing for index, firing in enumerate(firings) if index not in failed]
        foreign = self._foreign_sales([firing.key for firing in firings])
        counted = []
        for firing in firings:
            union = foreign.get(firing.key)
            if union:
                self._merged.inc()
                for transaction_id, cents in firing.sales.items():
                    union.setdefault(transaction_id, cents)
            counted.append((firing, union or firing.sales))
        self._write([_totals_row(firing, sales) for firing, sales in counted], rollup_layout.FAMILY, counted, dead)
        return dead

    def _ids_row(self, firing: RollupFiring) -> RollupRow:
        generation = self._generation
        cells = tuple(
            (rollup_layout.ids_qualifier(generation, part), value)
            for part, value in enumerate(rollup_layout.encode_sales(firing.sales))
        )
        return RollupRow(firing.key, cells, firing.end_ms * 1000)

    def _write(self, rows: list[RollupRow], family: str, counted: list, dead: list) -> set[int]:
        """Write rows of one family; a row that fails becomes a dead letter describing its window's
        total over what it counted (``counted``, row by row). Returns the failed indexes."""
        if not rows:
            return set()
        outcome = self._writer.write([encode_entry(row, family) for row in rows])
        self._written.inc(outcome.written)
        self._rows_per_call.update(len(rows))
        self._throttled.add(outcome.waited_seconds)
        if outcome.retried:
            self._retries.inc(outcome.retried)
        for failure in outcome.failed:
            source = _rollup_source(*counted[failure.batch_index])
            letter = dead_letter(source.data, source.attributes, "write", failure.reason, failure.detail)
            dead.append(
                GlobalWindows.windowed_value(letter, Timestamp(micros=rows[failure.batch_index].timestamp_micros))
            )
        if outcome.failed:
            self._failed.inc(len(outcome.failed))
            _LOG.warning("%d of %d rollup rows not written; dead-lettering them", len(outcome.failed), len(rows))
        return {failure.batch_index for failure in outcome.failed}

    def _foreign_sales(self, keys: list[bytes]) -> dict[bytes, Sales]:
        """Every other generation's counted transactions of these windows, by row key."""
        if not keys:
            return {}
        from google.api_core.retry import Retry
        from google.cloud.bigtable.row_set import RowSet

        row_set = RowSet()
        for key in keys:
            row_set.add_row_key(key)
        found: dict[bytes, Sales] = {}
        retry = Retry(deadline=READ_TIMEOUT_SECONDS)
        for row in self._table.read_rows(row_set=row_set, filter_=self._other_generations, retry=retry):
            sales: Sales = {}
            for cells in row.cells.get(rollup_layout.IDS_FAMILY, {}).values():
                rollup_layout.decode_sales(cells[0].value, sales)
            found[row.row_key] = sales
        return found


def _totals_row(firing: RollupFiring, sales: Sales) -> RollupRow:
    """The window's ``count`` and money over ``sales``, versioned by count."""
    count = len(sales)
    cells = rollup_layout.cells(_BY_NAME[firing.rollup], count, sum(sales.values()))
    return RollupRow(firing.key, cells, rollup_layout.totals_timestamp_micros(firing.end_ms, count))


def _rollup_source(firing: RollupFiring, sales: Sales) -> RollupSource:
    """What a window's dead letter carries (built only for a window Bigtable refused): its total as JSON."""
    rollup = _BY_NAME[firing.rollup]
    total = format_cents(sum(sales.values()))
    described = {"key": firing.key.decode(), "count": len(sales), rollup.money.decode(): total}
    return RollupSource(orjson.dumps(described), {attributes.ROLLUP: rollup.name})


class WriteRollups(beam.PTransform):
    """Write :class:`RollupFiring` elements as exact totals; returns the dead letters of windows not written."""

    def __init__(
        self,
        target: BigtableTarget,
        generation: str,
        policy: RetryPolicy = RetryPolicy(),
        client_factory: ConnectionFactory = bigtable_connection,
        adaptive_throttling: bool = False,
    ) -> None:
        super().__init__()
        self._fn = _WriteRollupsFn(target, generation, policy, client_factory, adaptive_throttling)

    def expand(self, firings):
        return firings | "WriteBatches" >> beam.ParDo(self._fn)
