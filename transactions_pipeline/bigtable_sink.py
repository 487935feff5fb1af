"""``WriteBigtableRows``: our Beam sink for :class:`BigtableRow` elements, batched per bundle.

The DoFn owns its client's lifecycle, made in ``setup`` and closed in ``teardown`` (Beam's
guidance for a DoFn that holds a client; Beam's own ``WriteToBigTable`` opens its batcher per
bundle instead), and, as Beam's IO sinks do, reports what it writes to in ``display_data``
(shown on Dataflow's job page) and records the table as a lineage sink (``Lineage.sinks()``,
read by Dataplex). Why our own sink at all: ``docs/architecture.md``, "Why our own sink". Rows are encoded as
they arrive, sent in batches through :class:`BigtableBatchWriter`, and every row of a bundle is
settled (written, or emitted as a dead letter) before ``finish_bundle`` returns: the runner
acknowledges the bundle's Pub/Sub messages only after that. Batches are written by one sender
thread while the bundle goes on encoding the next rows (at most ``MAX_BATCHES_IN_FLIGHT`` open),
and are settled on the bundle's own thread, in order, so metrics and outputs stay Beam's. (A
thread rather than reading a started call later: the blocked thread keeps gRPC's HTTP/2 flow
moving, which measured faster on the benchmark than deferred reads.)

Back-off is reported in ``cumulativeThrottlingSeconds``, so Dataflow's autoscaler does not add
workers against an overloaded cluster. A bulk load (``adaptive_throttling``) also throttles
itself with Beam's ``AdaptiveThrottler``: once Bigtable refuses a growing share of its
requests, it holds attempts back client-side, leaving the cluster to a live stream.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import Lineage
from apache_beam.transforms.display import DisplayDataItem
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from transactions.dead_letters import dead_letter
from transactions_pipeline import metrics
from transactions_pipeline.bigtable_connection import ConnectionFactory, adaptive_throttler, bigtable_connection
from transactions_pipeline.bigtable_writer import (
    BatchLimits,
    BigtableBatchWriter,
    BigtableTarget,
    Entry,
    RetryPolicy,
    WriteOutcome,
)
from transactions_pipeline.rows import BigtableRow, SourceMessage
from transactions_wire.bigtable import encode_entry

_LOG = logging.getLogger(__name__)

MAX_BATCHES_IN_FLIGHT = 2
"""Batches handed to the sender thread and not yet settled: encoding overlaps Bigtable's work,
and memory stays bounded."""


Kept = tuple[int, bytes, tuple[tuple[str, str], ...], object]
"""What the sink keeps of a row until its batch is settled: its timestamp, its source's data and
attributes for a dead letter, and (when it reports what it wrote) its sale and arrival. Only
bytes, strings, ints and tuples of them: CPython's collector stops tracking such tuples, so
thousands of rows waiting for Bigtable cost it nothing, where the rows and their source messages
would be rescanned at every collection."""
Output = WindowedValue | beam.pvalue.TaggedOutput
"""What a batch settles into: a write dead letter (main output), or a written sale (``WRITTEN``)."""

WRITTEN = "written"
"""The sink's second output, with ``emit_written``: per settled batch, one tuple of
``(sale, arrival ms or None)`` for its written rows. The rollups count only those."""


class _WriteRowsFn(beam.DoFn):
    """Buffers rows within a bundle, writes them in batches, and settles all before it ends."""

    def __init__(
        self,
        target: BigtableTarget,
        limits: BatchLimits,
        policy: RetryPolicy,
        client_factory: ConnectionFactory = bigtable_connection,
        adaptive_throttling: bool = False,
        report_freshness: bool = False,
        emit_written: bool = False,
    ) -> None:
        self._target = target
        self._emit_written = emit_written
        self._limits = limits
        self._policy = policy
        self._client_factory = client_factory
        self._adaptive_throttling = adaptive_throttling
        self._report_freshness = report_freshness
        self._freshness = Metrics.distribution(metrics.NAMESPACE, metrics.WRITE_FRESHNESS_MS)
        self._freshness_sum = Metrics.counter(metrics.NAMESPACE, metrics.WRITE_FRESHNESS_MS_SUM)
        self._freshness_count = Metrics.counter(metrics.NAMESPACE, metrics.WRITE_FRESHNESS_COUNT)
        self._metrics = metrics.WriterMetrics()

    def display_data(self) -> dict:
        target = self._target
        return {
            "table": DisplayDataItem(target.table_name, label="Bigtable table"),
            "columnFamily": DisplayDataItem(target.column_family, label="Column family"),
            "appProfileId": DisplayDataItem(target.app_profile_id or "(default)", label="App profile"),
            "maxRowsPerCall": DisplayDataItem(self._limits.max_rows, label="Rows per MutateRows call (at most)"),
            "operationTimeout": DisplayDataItem(
                self._policy.operation_timeout_seconds, label="Outage budget of one batch (s)"
            ),
            "adaptiveThrottling": DisplayDataItem(self._adaptive_throttling, label="Throttles itself (bulk load)"),
        }

    def setup(self) -> None:
        self._connection = self._client_factory(self._target)
        self._writer = BigtableBatchWriter(
            self._connection.send,
            self._target,
            self._policy,
            throttler=adaptive_throttler() if self._adaptive_throttling else None,
        )
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bigtable-writer")
        self._in_flight: deque[tuple[list[Kept], Future]] = deque()
        self._family = self._target.column_family
        self._max_rows, self._max_bytes = self._limits.max_rows, self._limits.max_bytes
        self._max_mutations = self._limits.max_mutations
        self._lineage_reported = False
        self._reset()

    def teardown(self) -> None:
        sender = getattr(self, "_sender", None)
        if sender is not None:
            sender.shutdown(wait=True)
        connection = getattr(self, "_connection", None)
        if connection is not None:
            connection.close()

    def _reset(self) -> None:
        self._rows: list[Kept] = []
        self._entries: list[Entry] = []
        self._bytes = 0
        self._mutations = 0

    def start_bundle(self) -> None:
        self._reset()
        self._in_flight.clear()  # a failed bundle's batches: retried with the bundle, harmlessly

    def process(self, row: BigtableRow) -> list[Output] | None:
        entry = encode_entry(row, self._family)
        size = len(entry)
        mutations = len(row.cells)
        sent = False
        if self._entries and (
            self._bytes + size > self._max_bytes or self._mutations + mutations > self._max_mutations
        ):
            sent = self._send()
        source = row.source
        counted = (row.sale, _arrival_ms(source)) if self._emit_written else None
        self._rows.append((row.timestamp_micros, source.data, tuple(source.attributes.items()), counted))
        self._entries.append(entry)
        self._bytes += size
        self._mutations += mutations
        if len(self._entries) >= self._max_rows:
            sent = self._send()
        # Earlier batches are looked at only when one is sent: a Future's state costs a lock.
        return self._settle(wait=False) if sent else None

    def finish_bundle(self) -> list[Output]:
        self._send()
        return self._settle(wait=True)

    def _send(self) -> bool:
        """Hand the buffered batch to the sender thread; encoding goes on while Bigtable works."""
        if not self._entries:
            return False
        rows, entries = self._rows, self._entries
        self._reset()
        self._in_flight.append((rows, self._sender.submit(self._writer.write, entries)))
        return True

    def _settle(self, wait: bool) -> list[Output]:
        """Settle the batches that are done, in order (all of them if ``wait``), so that at most
        ``MAX_BATCHES_IN_FLIGHT`` stay open: their dead letters, and every metric, on this thread."""
        outputs: list[Output] = []
        in_flight = self._in_flight
        while in_flight and (wait or len(in_flight) > MAX_BATCHES_IN_FLIGHT or in_flight[0][1].done()):
            rows, future = in_flight.popleft()
            outcome = future.result()  # BigtableUnavailable, PermissionDenied...: the bundle fails
            outputs += self._account(rows, outcome)
        return outputs

    def _account(self, rows: list[Kept], outcome: WriteOutcome) -> list[Output]:
        self._metrics.account(outcome, len(rows))
        failed = {failure.batch_index for failure in outcome.failed}
        if self._report_freshness:
            self._update_freshness(rows, failed)
        self._report_lineage_once()
        outputs: list[Output] = []
        if self._emit_written:
            written = tuple(kept[3] for index, kept in enumerate(rows) if index not in failed)
            outputs.append(beam.pvalue.TaggedOutput(WRITTEN, GlobalWindows.windowed_value(written)))
        if not outcome.failed:
            return outputs
        _LOG.warning("%d of %d rows not written; dead-lettering them", len(outcome.failed), len(rows))
        return outputs + [
            _write_dead_letter(rows[failure.batch_index], failure.reason, failure.detail) for failure in outcome.failed
        ]

    def _update_freshness(self, rows: list[Kept], failed: set[int]) -> None:
        now_micros = time.time_ns() // 1000
        update = self._freshness.update
        total = counted = 0
        for index, (timestamp_micros, _, _, _) in enumerate(rows):
            if index not in failed:
                freshness_ms = (now_micros - timestamp_micros) // 1000
                update(freshness_ms)
                total += freshness_ms
                counted += 1
        self._freshness_sum.inc(total)
        self._freshness_count.inc(counted)

    def _report_lineage_once(self) -> None:
        if not self._lineage_reported:
            self._lineage_reported = True
            target = self._target
            Lineage.sinks().add("bigtable", target.project, target.instance, target.table)


def _arrival_ms(source: SourceMessage) -> int | None:
    """When a Pub/Sub message was published (its arrival in the stream); None for a CSV line."""
    published = getattr(source, "publish_time", None)
    return None if published is None else int(published.timestamp() * 1000)


def _write_dead_letter(row: Kept, reason: str, detail: str) -> WindowedValue:
    """The row's source as a write dead letter, in the global window at the row's event time."""
    timestamp_micros, data, attributes, _ = row
    letter = dead_letter(data, dict(attributes), "write", reason, detail)
    return GlobalWindows.windowed_value(letter, Timestamp(micros=timestamp_micros))


class WriteResult(NamedTuple):
    """What :class:`WriteBigtableRows` returns, always: the dead letters of the rows not written,
    and (:data:`WRITTEN`) what was written, empty unless ``emit_written``."""

    dead_letters: beam.PCollection
    written: beam.PCollection


class WriteBigtableRows(beam.PTransform):
    """Write :class:`BigtableRow` elements; returns a :class:`WriteResult`.

    Each row's ``source`` must have ``data`` and ``attributes`` (a Pub/Sub message, or a CSV
    line wrapped the same way), which become the dead letter if the row cannot be written.
    With ``emit_written`` the result's ``written`` holds, per settled batch, the written rows'
    sales (:data:`WRITTEN`), for the rollups.
    """

    def __init__(
        self,
        target: BigtableTarget,
        limits: BatchLimits = BatchLimits(),
        policy: RetryPolicy = RetryPolicy(),
        client_factory: ConnectionFactory = bigtable_connection,
        adaptive_throttling: bool = False,
        report_freshness: bool = False,
        emit_written: bool = False,
    ) -> None:
        super().__init__()
        self._fn = _WriteRowsFn(
            target, limits, policy, client_factory, adaptive_throttling, report_freshness, emit_written
        )

    def expand(self, rows: beam.PCollection) -> WriteResult:
        if not isinstance(rows.windowing.windowfn, GlobalWindows):
            raise ValueError("WriteBigtableRows takes rows in the global window (re-window them first)")
        outputs = rows | "WriteBatches" >> beam.ParDo(self._fn).with_outputs(WRITTEN, main="dead_letters")
        return WriteResult(outputs["dead_letters"], outputs[WRITTEN])
