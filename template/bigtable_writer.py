"""Our Bigtable sink: batched ``MutateRows`` through the generated client, cheap per row.

Why not Beam's ``WriteToBigTable``: it builds ``DirectRow`` objects and goes through the
high-level client, whose per-row Python overhead is the bottleneck (DESIGN.md: ~6,000 rows/s
against ~35,000 for raw protobuf requests through the generated layer). This module encodes
each row's ``MutateRowsRequest`` entry directly (:mod:`template.mutations`) and sends batches
with the generated (GAPIC) client that
``google.cloud.bigtable.Client`` creates, so credentials (ADC), the routing header
(``x-goog-request-params``) and the emulator switch (``BIGTABLE_EMULATOR_HOST``) are the
library's own.

Failure handling (DESIGN.md, "Dead letters"):

- an entry that fails with a data error (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION)
  becomes a write dead letter at once;
- an entry that fails with any other code is retried with backoff; if it still fails after
  ``max_entry_tries`` it becomes a dead letter too (the emulator answers INTERNAL for an unknown
  column family where the service answers NOT_FOUND);
- a call that fails as a whole with a transient error (UNAVAILABLE, DEADLINE_EXCEEDED,
  RESOURCE_EXHAUSTED, ABORTED, INTERNAL), or a batch in which no row succeeded and every
  failure is a throttling code (UNAVAILABLE, DEADLINE_EXCEEDED, ...), is an outage:
  it is retried with backoff and, once ``max_outage_tries`` are spent, raises
  :class:`BigtableUnavailable` so the runner retries the bundle and nothing is acknowledged;
- any other failure of a whole call (permission denied, table missing) raises at once.
"""

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue
from google.api_core import exceptions as api_exceptions
from google.cloud.bigtable_v2.types import bigtable as bigtable_types

from template.bigtable_row import BigtableRow
from template.dead_letters import DeadLetter, dead_letter
from template.metrics import METRICS_NAMESPACE
from template.mutations import encode_entry, mutate_rows_request

_LOG = logging.getLogger(__name__)

_Entry = bytes  # an encoded MutateRowsRequest.Entry

MAX_MUTATIONS_PER_CALL = 100_000
"""Bigtable's limit on the mutations of one ``MutateRows`` request."""

# google.rpc.Code values.
OK = 0
_CODE_NAMES = {
    1: "cancelled", 2: "unknown", 3: "invalid_argument", 4: "deadline_exceeded",
    5: "not_found", 6: "already_exists", 7: "permission_denied", 8: "resource_exhausted",
    9: "failed_precondition", 10: "aborted", 11: "out_of_range", 12: "unimplemented",
    13: "internal", 14: "unavailable", 15: "data_loss", 16: "unauthenticated",
}  # fmt: skip
DATA_ERROR_CODES = frozenset({3, 5, 9})
"""Per-entry codes that no retry can fix: dead-letter the entry at once."""
THROTTLING_CODES = frozenset({4, 8, 10, 14})
"""Per-entry codes that, when every entry of a call has one, mean the service is struggling."""
TRANSIENT_CALL_ERRORS = (
    api_exceptions.ServiceUnavailable,
    api_exceptions.DeadlineExceeded,
    api_exceptions.ResourceExhausted,
    api_exceptions.Aborted,
    api_exceptions.InternalServerError,
)


class BigtableUnavailable(RuntimeError):
    """Transient failures outlasted the retry budget: fail the bundle so the runner retries."""


@dataclass(frozen=True)
class BigtableTarget:
    """Where rows go: ``projects/<project>/instances/<instance>/tables/<table>``, one family."""

    project: str
    instance: str
    table: str
    column_family: str
    app_profile_id: str = ""

    @property
    def table_name(self) -> str:
        return f"projects/{self.project}/instances/{self.instance}/tables/{self.table}"


@dataclass(frozen=True)
class BatchLimits:
    """When to send: the first limit reached closes a batch."""

    max_rows: int = 1000
    max_bytes: int = 8 * 1024 * 1024
    max_mutations: int = MAX_MUTATIONS_PER_CALL


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter."""

    max_entry_tries: int = 4
    max_outage_tries: int = 10
    initial_backoff_seconds: float = 0.1
    max_backoff_seconds: float = 10.0
    call_timeout_seconds: float = 60.0

    def backoff(self, tries: int) -> float:
        delay = min(self.max_backoff_seconds, self.initial_backoff_seconds * 2 ** (tries - 1))
        return delay * random.uniform(0.5, 1.0)


class FailedEntry(NamedTuple):
    """A row that will not be written: its position in the batch and why."""

    index: int
    reason: str
    detail: str


class WriteOutcome(NamedTuple):
    written: int
    failed: list[FailedEntry]
    calls: int


class BigtableBatchWriter:
    """Sends one batch of rows and settles every row: written, dead letter, or raise.

    ``mutate_rows`` is the generated client's method; tests of failure modes the emulator
    cannot produce pass a stand-in with the same signature.
    """

    def __init__(
        self,
        mutate_rows: Callable[..., Iterable],
        target: BigtableTarget,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[int], None] | None = None,
    ) -> None:
        self._mutate_rows = mutate_rows
        self._target = target
        self._policy = policy
        self._sleep = sleep
        self._on_retry = on_retry or (lambda entries: None)

    def write(self, entries: Sequence[_Entry]) -> WriteOutcome:
        failed: list[FailedEntry] = []
        pending = list(range(len(entries)))
        entry_tries = [0] * len(entries)
        outage_tries = 0
        calls = 0
        batch_mates_succeeded = False
        while pending:
            calls += 1
            statuses, call_error = self._send([entries[i] for i in pending])
            if call_error is not None and not isinstance(call_error, TRANSIENT_CALL_ERRORS):
                raise call_error
            retry: list[tuple[int, int | None, str]] = []  # code None: the call broke before answering
            for position, index in enumerate(pending):
                code, message = statuses.get(position, (None, "no answer"))
                if code == OK:
                    batch_mates_succeeded = True
                elif code in DATA_ERROR_CODES:
                    failed.append(_failure(index, code, message, 1))
                else:
                    retry.append((index, code, message))
            if not retry:
                break
            outage = call_error is not None or (
                not batch_mates_succeeded and all(code in THROTTLING_CODES for _, code, _ in retry)
            )
            if outage:
                outage_tries += 1
                if outage_tries >= self._policy.max_outage_tries:
                    raise BigtableUnavailable(
                        f"{self._target.table_name}: {len(retry)} rows still failing after "
                        f"{outage_tries} tries: {call_error or retry[0][2]}"
                    )
            pending = []
            for index, code, message in retry:
                if code is None or (outage and code in THROTTLING_CODES):
                    pending.append(index)  # not the entry's fault: its tries are not counted
                    continue
                entry_tries[index] += 1
                if entry_tries[index] >= self._policy.max_entry_tries:
                    failed.append(_failure(index, code, message, entry_tries[index]))
                else:
                    pending.append(index)
            if pending:
                self._on_retry(len(pending))
                self._sleep(self._policy.backoff(max(outage_tries, *entry_tries)))
        failed.sort()
        return WriteOutcome(len(entries) - len(failed), failed, calls)

    def _send(self, entries: list[_Entry]) -> tuple[dict[int, tuple[int, str]], Exception | None]:
        request = mutate_rows_request(self._target.table_name, self._target.app_profile_id, entries)
        statuses: dict[int, tuple[int, str]] = {}
        try:
            responses = self._mutate_rows(
                request=bigtable_types.MutateRowsRequest.wrap(request),
                retry=None,
                timeout=self._policy.call_timeout_seconds,
            )
            for response in responses:
                for entry in bigtable_types.MutateRowsResponse.pb(response).entries:
                    statuses[entry.index] = (entry.status.code, entry.status.message)
        except api_exceptions.GoogleAPICallError as error:
            return statuses, error
        return statuses, None


def _failure(index: int, code: int, message: str, tries: int) -> FailedEntry:
    name = _CODE_NAMES.get(code, f"code_{code}")
    detail = f"Bigtable answered {name.upper()} for this row"
    if tries > 1:
        detail += f" {tries} times"
    return FailedEntry(index, f"bigtable_{name}", f"{detail}: {message}")


class _WriteRowsFn(beam.DoFn):
    """Buffers rows within a bundle, writes them in batches, and settles all before it ends.

    Every row is written or emitted as a dead letter before ``finish_bundle`` returns: the
    runner acknowledges the bundle's Pub/Sub messages only after that, so nothing is acked
    before it is in Bigtable or on its way to the dead-letter topic.
    """

    def __init__(self, target: BigtableTarget, limits: BatchLimits, policy: RetryPolicy) -> None:
        self._target = target
        self._limits = limits
        self._policy = policy
        self._written = Metrics.counter(METRICS_NAMESPACE, "written")
        self._retries = Metrics.counter(METRICS_NAMESPACE, "write_retries")
        self._write_failed = Metrics.counter(METRICS_NAMESPACE, "write_failed")
        self._rows_per_call = Metrics.distribution(METRICS_NAMESPACE, "rows_per_write_call")

    def setup(self) -> None:
        from google.cloud import bigtable

        client = bigtable.Client(project=self._target.project)
        self._writer = BigtableBatchWriter(
            client.table_data_client.mutate_rows,
            self._target,
            self._policy,
            on_retry=self._retries.inc,
        )
        self._reset()

    def _reset(self) -> None:
        self._rows: list[tuple[BigtableRow, WindowedValue]] = []
        self._entries: list[_Entry] = []
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
        if outcome.failed:
            self._write_failed.inc(len(outcome.failed))
            _LOG.warning("%d of %d rows not written; dead-lettering them", len(outcome.failed), len(entries))
        return [
            rows[failure.index][1].with_value(
                _write_dead_letter(rows[failure.index][0], failure.reason, failure.detail)
            )
            for failure in outcome.failed
        ]


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
    ) -> None:
        super().__init__()
        self._fn = _WriteRowsFn(target, limits, policy)

    def expand(self, rows):
        return rows | "WriteBatches" >> beam.ParDo(self._fn)
