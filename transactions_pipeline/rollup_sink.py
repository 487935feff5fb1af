"""``WriteRollups``: the rollups' read-merge-write sink, exact across every writer of a window.

It takes :class:`~transactions_pipeline.rollups.RollupFiring` elements (a window's transactions as
this job counted them so far) and makes the totals exact across everything any writer ever
counted for the window: it writes this job's set under its own *generation* (family ``ids``),
reads every other generation's set of the same windows (one read per batch of firings), and
writes the union's count and money (family ``agg``), versioned by count
(:func:`transactions.rollup_layout.totals_timestamp_micros`). ``docs/rollups.md`` says why this
stays exact after a drain and restart, an update, an overlapping backfill and a re-published
message, and what it costs.

Its writes and its read follow the job's one retry rule (``docs/dead-letters.md``, "Failure and
retry policy"): a busy cluster delays a batch, and only a refusal no retry can fix makes a
window's dead letter.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any, NamedTuple

import apache_beam as beam
import orjson
from apache_beam.metrics import Metrics
from apache_beam.transforms.display import DisplayDataItem
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from transactions import attributes, rollup_layout
from transactions.dead_letters import dead_letter
from transactions.formats import format_cents
from transactions.rollup_layout import USER_DAY
from transactions_pipeline import metrics
from transactions_pipeline.bigtable_connection import ConnectionFactory, adaptive_throttler, bigtable_connection
from transactions_pipeline.bigtable_reader import BigtableReader
from transactions_pipeline.bigtable_writer import BigtableBatchWriter, BigtableTarget, RetryPolicy, WriteOutcome
from transactions_pipeline.forgotten_list import ForgottenList
from transactions_pipeline.rollups import BY_NAME, FiringFields, RollupFiring, Sales, add_sales
from transactions_wire.bigtable import encode_entry

__all__ = [
    "BACKFILL_BATCHES_IN_FLIGHT",
    "MAX_FIRINGS_PER_BATCH",
    "MAX_SALES_PER_BATCH",
    "RollupRow",
    "RollupSource",
    "WriteRollups",
]

MAX_FIRINGS_PER_BATCH = 1000
"""Firings written (and their windows read) together: one read and two writes per batch (as many
rows per ``MutateRows`` as the transaction sink's batches; each call costs the client ~2.5 ms of
CPU, so a backfill's 100,000 windows pay for 300 calls, not 600)."""

MAX_SALES_PER_BATCH = 50_000
"""A batch is also sent once its firings hold this many transactions: a few large windows (a busy
category's minute, a backfill's whole day of a category) are each a set of ids held in memory and
written whole, so the batch's memory and its requests' size follow the sales, not only the windows."""

BACKFILL_BATCHES_IN_FLIGHT = 2
"""A backfill's batches sent at once: each window fires once there (``RollupTotals``), so no two
batches share a window and their order does not matter; while one waits for Bigtable, the next
is on its way. The stream sends one at a time (``_WriteRollupsFn._flush``)."""

_LOG = logging.getLogger(__name__)


class RollupRow(NamedTuple):
    """One row of the rollups table, as the wire encoder takes it; a refused one's dead letter is
    built from its window (:func:`_rollup_source`), so it carries no source message."""

    row_key: bytes
    cells: tuple[tuple[bytes, bytes], ...]
    timestamp_micros: int


class RollupSource(NamedTuple):
    """A rollup's stand-in for a source message: what its dead letter carries."""

    data: bytes
    attributes: dict[str, str]


Counted = tuple[RollupFiring, Sales]
"""A window and the transactions its row stands for: what its dead letter would describe."""


class _BatchWritten(NamedTuple):
    """What the sender thread did with one batch, for the bundle's thread to account for."""

    sets: list[RollupRow]
    sets_counted: list[Counted]
    sets_outcome: WriteOutcome
    read_waited_seconds: float
    merged: int
    totals: list[RollupRow]
    totals_counted: list[Counted]
    totals_outcome: WriteOutcome | None


def other_generations_filter(generation: str) -> Any:
    """Every ``ids`` qualifier but this generation's (``<generation>#<part>``), latest cell only."""
    from google.cloud.bigtable.data.row_filters import (
        CellsColumnLimitFilter,
        ColumnRangeFilter,
        RowFilterChain,
        RowFilterUnion,
    )

    own = (generation + rollup_layout.PART_SEPARATOR).encode()
    after_own = own[:-1] + bytes([own[-1] + 1])  # the first qualifier past every "<generation>#..."
    return RowFilterChain(
        [
            RowFilterUnion(
                [
                    ColumnRangeFilter(rollup_layout.IDS_FAMILY, end_qualifier=own, inclusive_end=False),
                    ColumnRangeFilter(rollup_layout.IDS_FAMILY, start_qualifier=after_own),
                ]
            ),
            CellsColumnLimitFilter(1),
        ]
    )


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
        forgotten: ForgottenList | None = None,
        batches_in_flight: int = 1,
    ) -> None:
        if batches_in_flight < 1:
            raise ValueError(f"batches_in_flight must be at least 1, not {batches_in_flight}")
        self._target = target
        self._batches_in_flight = batches_in_flight
        self._generation = generation
        self._policy = policy
        self._client_factory = client_factory
        self._adaptive_throttling = adaptive_throttling
        self._forgotten_list = forgotten
        self._metrics = metrics.WriterMetrics(metrics.ROLLUP_PREFIX)
        self._merged = Metrics.counter(metrics.NAMESPACE, metrics.ROLLUP_MERGED)
        self._forgotten = Metrics.counter(metrics.NAMESPACE, metrics.ROLLUP_FORGOTTEN_USER)

    def display_data(self) -> dict[str, Any]:
        return {
            "table": DisplayDataItem(self._target.table_name, label="Bigtable table"),
            "generation": DisplayDataItem(self._generation, label="Writer generation (ids family)"),
        }

    def setup(self) -> None:
        target = self._target
        self._opened = ExitStack()
        connection = self._client_factory(target)
        self._opened.callback(connection.close)
        self._writer = BigtableBatchWriter(
            connection.send,
            target,
            self._policy,
            throttler=adaptive_throttler() if self._adaptive_throttling else None,
        )
        self._reader = BigtableReader(connection.read, target.table_name, self._policy)
        self._other_generations = other_generations_filter(self._generation)
        self._sender = ThreadPoolExecutor(max_workers=self._batches_in_flight, thread_name_prefix="rollups-writer")
        self._opened.callback(self._sender.shutdown, wait=True)  # closed before the connection
        if self._forgotten_list is not None:
            self._forgotten_list.setup()
            self._opened.callback(self._forgotten_list.teardown)

    def teardown(self) -> None:
        opened = getattr(self, "_opened", None)
        if opened is not None:
            opened.close()

    def start_bundle(self) -> None:
        self._firings: dict[bytes, RollupFiring] = {}
        self._sales_held = 0
        self._in_flight: deque[Future[_BatchWritten]] = deque()

    def process(self, fields: FiringFields) -> list[WindowedValue] | None:
        firing = RollupFiring._make(fields)
        if self._forgotten_day(firing):
            self._forgotten.inc()
            return None
        key = firing.key
        earlier = self._firings.get(key)
        if earlier is not None:  # two panes of one window in a bundle: the later holds the earlier
            self._sales_held -= len(earlier.sales)
            firing = firing._replace(sales={**firing.sales, **earlier.sales})
        self._firings[key] = firing
        self._sales_held += len(firing.sales)
        if len(self._firings) >= MAX_FIRINGS_PER_BATCH or self._sales_held >= MAX_SALES_PER_BATCH:
            return self._flush()
        return None

    def finish_bundle(self) -> list[WindowedValue]:
        dead = self._flush()
        while self._in_flight:
            dead += self._settle()
        return dead

    def _forgotten_day(self, firing: RollupFiring) -> bool:
        """A forgotten user's day that began at or before the request: not written again, not even
        from the sales this job held in its window before the request (docs/data-lifecycle.md)."""
        return (
            self._forgotten_list is not None
            and firing.rollup == USER_DAY.name
            and self._forgotten_list.current().forgets(firing.name, firing.start_ms)
        )

    def _flush(self) -> list[WindowedValue]:
        """Hand this batch to a sender thread, once fewer than ``batches_in_flight`` are in flight:
        Bigtable works on a batch (its sets, the read, its totals, in that order) while this
        thread gathers the next. The stream sends one batch at a time, on one thread, so that a
        window's sets are written in the order its firings came; a backfill fires each window
        once, so its batches share no window and two may be in flight."""
        if not self._firings:
            return []
        keyed, self._firings = self._firings, {}
        self._sales_held = 0
        dead: list[WindowedValue] = []
        while len(self._in_flight) >= self._batches_in_flight:
            dead += self._settle()
        self._in_flight.append(self._sender.submit(self._write_batch, keyed))
        return dead

    def _settle(self) -> list[WindowedValue]:
        """The oldest batch in flight, once it is done: its metrics (counted here, on the bundle's
        own thread) and its dead letters. Its error fails the bundle."""
        if not self._in_flight:
            return []
        written = self._in_flight.popleft().result()
        dead: list[WindowedValue] = []
        self._account(written.sets, written.sets_counted, written.sets_outcome, dead)
        self._metrics.throttled.add(written.read_waited_seconds)
        if written.merged:
            self._merged.inc(written.merged)
        if written.totals_outcome is not None:
            self._account(written.totals, written.totals_counted, written.totals_outcome, dead)
        return dead

    def _write_batch(self, keyed: dict[bytes, RollupFiring]) -> _BatchWritten:
        """(1), (2) and (3) of one batch, on the sender thread; no metric is touched here."""
        firings = list(keyed.values())
        sets_counted: list[Counted] = [(firing, firing.sales) for firing in firings]
        sets = [self._ids_row(key, firing) for key, firing in keyed.items()]
        sets_outcome = self._writer.write(_entries(sets, rollup_layout.IDS_FAMILY))
        if sets_outcome.failed:
            failed = {failure.batch_index for failure in sets_outcome.failed}
            firings = [firing for index, firing in enumerate(firings) if index not in failed]
        foreign, waited = self._foreign_sales([firing.key for firing in firings])
        totals_counted: list[Counted] = []
        merged = 0
        for firing in firings:
            union = foreign.get(firing.key)
            if union:
                merged += 1
                add_sales(union, firing.sales)
            totals_counted.append((firing, union or firing.sales))
        totals = [_totals_row(firing, sales) for firing, sales in totals_counted]
        totals_outcome = self._writer.write(_entries(totals, rollup_layout.FAMILY)) if totals else None
        return _BatchWritten(sets, sets_counted, sets_outcome, waited, merged, totals, totals_counted, totals_outcome)

    def _ids_row(self, key: bytes, firing: RollupFiring) -> RollupRow:
        generation = self._generation
        cells = tuple(
            (rollup_layout.ids_qualifier(generation, part), value)
            for part, value in enumerate(rollup_layout.encode_sales(firing.sales))
        )
        return RollupRow(key, cells, firing.end_ms * 1000)

    def _account(
        self, rows: list[RollupRow], counted: list[Counted], outcome: WriteOutcome, dead: list[WindowedValue]
    ) -> None:
        """A written batch's metrics; a row that failed becomes a dead letter describing its
        window's total over what it counted (``counted``, row by row)."""
        self._metrics.account(outcome, len(rows))
        for failure in outcome.failed:
            source = _rollup_source(*counted[failure.batch_index])
            letter = dead_letter(source.data, source.attributes, "write", failure.reason, failure.detail)
            dead.append(
                GlobalWindows.windowed_value(letter, Timestamp(micros=rows[failure.batch_index].timestamp_micros))
            )
        if outcome.failed:
            _LOG.warning("%d of %d rollup rows not written; dead-lettering them", len(outcome.failed), len(rows))

    def _foreign_sales(self, keys: list[bytes]) -> tuple[dict[bytes, Sales], float]:
        """Every other generation's counted transactions of these windows, by row key; and the
        seconds the read waited for a busy Bigtable."""
        if not keys:
            return {}, 0.0
        outcome = self._reader.read(keys, self._other_generations)
        found: dict[bytes, Sales] = {}
        for key, cells in outcome.rows.items():
            sales: Sales = {}
            for _, _, value in cells:
                rollup_layout.decode_sales(value, sales)
            found[key] = sales
        return found, outcome.waited_seconds


def _entries(rows: list[RollupRow], family: str) -> list[bytes]:
    return [encode_entry(row, family) for row in rows]


def _totals_row(firing: RollupFiring, sales: Sales) -> RollupRow:
    """The window's ``count`` and money over ``sales``, versioned by count."""
    count = len(sales)
    cells = rollup_layout.cells(BY_NAME[firing.rollup], count, sum(sales.values()))
    return RollupRow(firing.key, cells, rollup_layout.totals_timestamp_micros(firing.end_ms, count))


def _rollup_source(firing: RollupFiring, sales: Sales) -> RollupSource:
    """What a window's dead letter carries (built only for a window Bigtable refused): its total as JSON."""
    rollup = BY_NAME[firing.rollup]
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
        forgotten: ForgottenList | None = None,
        batches_in_flight: int = 1,
    ) -> None:
        super().__init__()
        self._fn = _WriteRollupsFn(
            target, generation, policy, client_factory, adaptive_throttling, forgotten, batches_in_flight
        )

    def expand(self, firings: beam.PCollection) -> beam.PCollection:
        if self._fn._batches_in_flight > 1 and not firings.is_bounded:
            raise ValueError("a stream's windows fire again: its rollups are written one batch at a time")
        return firings | "WriteBatches" >> beam.ParDo(self._fn)
