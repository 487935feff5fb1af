"""``WriteToBigtable``: our Beam sink for :class:`BigtableRow` elements, batched per bundle.

Like Beam's own IO sinks, the DoFn owns its client's lifecycle (made in ``setup``, closed in
``teardown``), reports what it writes to in ``display_data`` (shown on Dataflow's job page) and
records the table as a lineage sink (``Lineage.sinks()``, read by Dataplex). Rows are encoded as
they arrive, sent in batches through :class:`BigtableBatchWriter`, and every row of a bundle is
settled (written, or emitted as a dead letter) before ``finish_bundle`` returns: the runner
acknowledges the bundle's Pub/Sub messages only after that.

Back-off is reported in ``cumulativeThrottlingSeconds``, so Dataflow's autoscaler does not add
workers against an overloaded cluster. A bulk load (``adaptive_throttling``) also throttles
itself with Beam's ``AdaptiveThrottler``: once Bigtable refuses a growing share of its
requests, it holds attempts back client-side, leaving the cluster to a live stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import Lineage
from apache_beam.transforms.display import DisplayDataItem
from apache_beam.utils.windowed_value import WindowedValue

from transactions.dead_letters import DeadLetter, dead_letter
from transactions_pipeline import metrics
from transactions_pipeline.bigtable_writer import BatchLimits, BigtableBatchWriter, BigtableTarget, Entry, RetryPolicy
from transactions_pipeline.mutations import encode_entry
from transactions_pipeline.rows import BigtableRow

_LOG = logging.getLogger(__name__)

ClientFactory = Callable[[BigtableTarget], object]
"""Makes the data client of a target: an object with the generated client's ``mutate_rows``."""


def generated_client(target: BigtableTarget):
    """The generated (GAPIC) data client that ``google.cloud.bigtable.Client`` builds: ADC,
    routing headers, and ``BIGTABLE_EMULATOR_HOST`` honoured by the library itself."""
    from google.cloud import bigtable

    return bigtable.Client(project=target.project).table_data_client


class _WriteRowsFn(beam.DoFn):
    """Buffers rows within a bundle, writes them in batches, and settles all before it ends."""

    def __init__(
        self,
        target: BigtableTarget,
        limits: BatchLimits,
        policy: RetryPolicy,
        client_factory: ClientFactory = generated_client,
        adaptive_throttling: bool = False,
        report_freshness: bool = False,
    ) -> None:
        self._target = target
        self._limits = limits
        self._policy = policy
        self._client_factory = client_factory
        self._adaptive_throttling = adaptive_throttling
        self._report_freshness = report_freshness
        self._freshness = Metrics.distribution(metrics.NAMESPACE, metrics.WRITE_FRESHNESS_MS)
        self._written = Metrics.counter(metrics.NAMESPACE, metrics.WRITTEN)
        self._retries = Metrics.counter(metrics.NAMESPACE, metrics.WRITE_RETRIES)
        self._write_failed = Metrics.counter(metrics.NAMESPACE, metrics.WRITE_FAILED)
        self._rows_per_call = Metrics.distribution(metrics.NAMESPACE, metrics.ROWS_PER_WRITE_CALL)

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
        self._client = self._client_factory(self._target)
        self._throttled = metrics.ThrottledSeconds()
        self._writer = BigtableBatchWriter(
            self._client.mutate_rows, self._target, self._policy, on_backoff=self._backoff
        )
        self._lineage_reported = False
        self._reset()

    def teardown(self) -> None:
        transport = getattr(getattr(self, "_client", None), "transport", None)
        if transport is not None:
            transport.close()

    def _backoff(self, seconds: float, entries: int) -> None:
        self._retries.inc(entries)
        self._throttled.add(seconds)

    def _reset(self) -> None:
        self._rows: list[tuple[BigtableRow, WindowedValue]] = []
        self._entries: list[Entry] = []
        self._bytes = 0
        self._mutations = 0

    def start_bundle(self) -> None:
        self._reset()

    def process(self, row: BigtableRow, element=beam.DoFn.WindowedValueParam):
        entry = encode_entry(row, self._target.column_family)
        size = len(entry)
        mutations = len(row.cells)
        limits = self._limits
        outputs = ()
        if self._entries and (
            self._bytes + size > limits.max_bytes or self._mutations + mutations > limits.max_mutations
        ):
            outputs = self._flush()
        self._rows.append((row, element))
        self._entries.append(entry)
        self._bytes += size
        self._mutations += mutations
        if len(self._entries) >= limits.max_rows:
            outputs = (*outputs, *self._flush())
        return outputs

    def finish_bundle(self):
        return self._flush()

    def _flush(self) -> list[WindowedValue]:
        if not self._entries:
            return []
        rows, entries = self._rows, self._entries
        self._reset()
        outcome = self._writer.write(entries)
        self._written.inc(outcome.written)
        self._rows_per_call.update(len(entries))
        if self._report_freshness:
            self._update_freshness(rows, {failure.index for failure in outcome.failed})
        self._report_lineage_once()
        if outcome.failed:
            self._write_failed.inc(len(outcome.failed))
            _LOG.warning("%d of %d rows not written; dead-lettering them", len(outcome.failed), len(entries))
        return [
            rows[failure.index][1].with_value(
                _write_dead_letter(rows[failure.index][0], failure.reason, failure.detail)
            )
            for failure in outcome.failed
        ]

    def _update_freshness(self, rows: list[tuple[BigtableRow, WindowedValue]], failed: set[int]) -> None:
        now_micros = time.time_ns() // 1000
        update = self._freshness.update
        for index, (row, _) in enumerate(rows):
            if index not in failed:
                update((now_micros - row.timestamp_micros) // 1000)

    def _report_lineage_once(self) -> None:
        if not self._lineage_reported:
            self._lineage_reported = True
            target = self._target
            Lineage.sinks().add("bigtable", target.project, target.instance, target.table)


def adaptive_throttler():
    """Beam's client-side throttler, with the settings its Datastore sink uses: two minutes of
    history in one-second buckets, throttling once requests exceed successes by a quarter."""
    from apache_beam.io.components.adaptive_throttler import AdaptiveThrottler

    return AdaptiveThrottler(window_ms=120_000, bucket_ms=1_000, overload_ratio=1.25)


def _write_dead_letter(row: BigtableRow, reason: str, detail: str) -> DeadLetter:
    source = row.source
    return dead_letter(source.data, source.attributes, "write", reason, detail)


class WriteToBigtable(beam.PTransform):
    """Write :class:`BigtableRow` elements; returns the dead letters of rows not written.

    Each row's ``source`` must have ``data`` and ``attributes`` (a Pub/Sub message, or a CSV
    line wrapped the same way), which become the dead letter if the row cannot be written.
    """

    def __init__(
        self,
        target: BigtableTarget,
        limits: BatchLimits = BatchLimits(),
        policy: RetryPolicy = RetryPolicy(),
        client_factory: ClientFactory = generated_client,
        adaptive_throttling: bool = False,
        report_freshness: bool = False,
    ) -> None:
        super().__init__()
        self._fn = _WriteRowsFn(target, limits, policy, client_factory, adaptive_throttling, report_freshness)

    def expand(self, rows):
        return rows | "WriteBatches" >> beam.ParDo(self._fn)
