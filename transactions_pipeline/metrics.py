"""The job's Beam metrics: one namespace, every name in one place.

Dataflow exports each user counter to Cloud Monitoring as ``dataflow.googleapis.com/job/user_counter``
with the label ``metric_name`` set to the names below; the dashboard and alert files in
``deploy/monitoring`` refer to them, and a test checks that every name they use is defined here.
Reason codes are open-ended (``invalid_bad_price``, ``dead_lettered_write_bigtable_internal``),
so their counters are made on first use and kept, instead of one attribute per code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apache_beam.metrics import Metrics

if TYPE_CHECKING:
    from transactions_pipeline.bigtable_writer import WriteOutcome

NAMESPACE = "transacoes"

READ = "read"
VALID = "valid"
INVALID = "invalid"
INVALID_BY_REASON = "invalid_"
"""Prefix: ``invalid_<reason>`` for each reason code."""
FORGOTTEN_USER = "forgotten_user"
"""Records of a user who asked to be forgotten, neither written nor dead-lettered
(``transactions.forgotten``): counted in ``read``, and in neither ``valid`` nor ``invalid``."""
WRITTEN = "written"
WRITE_RETRIES = "write_retries"
WRITE_FAILED = "write_failed"
ROWS_PER_WRITE_CALL = "rows_per_write_call"
WRITE_FRESHNESS_MS = "write_freshness_ms"
"""Milliseconds from a row's event time to its write (the stream's freshness). Dataflow exports a
distribution as four running figures since the job started, ``<name>_MEAN``, ``_MIN``, ``_MAX`` and
``_COUNT`` (Beam's ``dataflow_metrics.py``): lifetime figures, which never show the last minutes."""
WRITE_FRESHNESS_MS_SUM = WRITE_FRESHNESS_MS + "_sum"
"""The same milliseconds summed, as a counter: over a window, its change divided by the change of
``write_freshness_ms_COUNT`` is the window's mean freshness (the dashboard's tile)."""
WRITE_FRESHNESS_COUNT = "write_freshness_count"
"""How many rows ``write_freshness_ms_sum`` adds up, as a plain counter of ours: the divisor of the
dashboard's mean freshness (Cloud Monitoring exports a distribution's ``_COUNT`` under a name of
its own making, so the dashboard does not rely on one)."""
DEAD_LETTERED = "dead_lettered"
DEAD_LETTERED_BY_REASON = "dead_lettered_"
"""Prefix: ``dead_lettered_<stage>_<reason>``."""
THROTTLED_SECONDS = "cumulativeThrottlingSeconds"
"""Beam's convention (its BigQuery, GCS and Datastore IOs use it): Dataflow's autoscaler reads
seconds spent backing off from a service and does not add workers for that share of the time."""

ROLLUP_PREFIX = "rollup_"
"""The rollups' writer counts under ``rollup_written``, ``rollup_write_retries``, ``rollup_write_failed``
(rows of both families: a window's counted ids, then its totals)."""
ROLLUP_TOO_LATE = "rollup_too_late"
"""(Event, rollup) pairs left out of a rollup for arriving after its window's allowed lateness;
the event's transaction row is written all the same."""
ROLLUP_WRITTEN = ROLLUP_PREFIX + WRITTEN
ROLLUP_MERGED = "rollup_merged"
"""Windows whose totals took in another writer generation's counts (a restarted job, a backfill)."""
ROLLUP_FORGOTTEN_USER = ROLLUP_PREFIX + FORGOTTEN_USER
"""Firings of a forgotten user's day windows, up to the request, not written (``transactions.forgotten``)."""

COUNTERS = (
    READ,
    VALID,
    INVALID,
    FORGOTTEN_USER,
    WRITTEN,
    WRITE_RETRIES,
    WRITE_FAILED,
    DEAD_LETTERED,
    THROTTLED_SECONDS,
    WRITE_FRESHNESS_MS_SUM,
    WRITE_FRESHNESS_COUNT,
    ROLLUP_WRITTEN,
    ROLLUP_PREFIX + WRITE_RETRIES,
    ROLLUP_PREFIX + WRITE_FAILED,
    ROLLUP_TOO_LATE,
    ROLLUP_MERGED,
    ROLLUP_FORGOTTEN_USER,
)
DISTRIBUTIONS = (ROWS_PER_WRITE_CALL, WRITE_FRESHNESS_MS, ROLLUP_PREFIX + ROWS_PER_WRITE_CALL)
PREFIXES = (INVALID_BY_REASON, DEAD_LETTERED_BY_REASON)


class CounterFamily:
    """Counters ``<prefix><suffix>`` in the job's namespace, created once each."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._counters: dict[str, Metrics.DelegatingCounter] = {}

    def __getitem__(self, suffix: str) -> Metrics.DelegatingCounter:
        counter = self._counters.get(suffix)
        if counter is None:
            counter = self._counters[suffix] = Metrics.counter(NAMESPACE, self._prefix + suffix)
        return counter


class ThrottledSeconds:
    """``cumulativeThrottlingSeconds``: Beam counters are integers, so fractions are carried over."""

    def __init__(self) -> None:
        self._counter = Metrics.counter(NAMESPACE, THROTTLED_SECONDS)
        self._carry = 0.0

    def add(self, seconds: float) -> None:
        self._carry += seconds
        whole = int(self._carry)
        if whole:
            self._counter.inc(whole)
            self._carry -= whole


class WriterMetrics:
    """What a Bigtable writer reports of each batch it settles, under ``<prefix><name>``: rows
    written, entries retried, rows failed, rows per call, and the time it waited
    (``cumulativeThrottlingSeconds``, one counter for every writer: the autoscaler reads it).
    The transaction sink's prefix is empty; the rollups' is :data:`ROLLUP_PREFIX`."""

    def __init__(self, prefix: str = "") -> None:
        self._written = Metrics.counter(NAMESPACE, prefix + WRITTEN)
        self._retries = Metrics.counter(NAMESPACE, prefix + WRITE_RETRIES)
        self._failed = Metrics.counter(NAMESPACE, prefix + WRITE_FAILED)
        self._rows_per_call = Metrics.distribution(NAMESPACE, prefix + ROWS_PER_WRITE_CALL)
        self.throttled = ThrottledSeconds()

    def account(self, outcome: WriteOutcome, rows: int) -> None:
        """One settled batch of ``rows`` rows."""
        self._written.inc(outcome.written)
        self._rows_per_call.update(rows)
        if outcome.retried:
            self._retries.inc(outcome.retried)
        if outcome.failed:
            self._failed.inc(len(outcome.failed))
        self.throttled.add(outcome.waited_seconds)
