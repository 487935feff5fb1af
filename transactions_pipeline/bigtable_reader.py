"""Read rows by key with the writer's retry rule: a busy cluster delays a read, never fails it.

One rule for every Bigtable call the job makes (``docs/dead-letters.md``, "Failure and retry
policy"), shaped like :class:`~transactions_pipeline.bigtable_writer.BigtableBatchWriter`: one
attempt (:data:`~transactions_pipeline.bigtable_connection.ReadAttempt`, a ``ReadRows`` call
with no retry of its own) is separate from the operation that retries it (:meth:`BigtableReader.read`):

- a failure of the call that is worth another attempt (UNAVAILABLE, RESOURCE_EXHAUSTED,
  DEADLINE_EXCEEDED, ABORTED, INTERNAL, UNKNOWN: the writer's
  :data:`~transactions_pipeline.bigtable_writer.RETRYABLE_CALL_ERRORS`), a stream cut halfway
  included, is retried with the policy's backoff until the operation's deadline
  (``operation_timeout_seconds`` of the :class:`RetryPolicy`);
- the next attempt asks only for the keys after the last row that arrived whole: rows come in
  key order, so nothing is read twice and nothing is skipped;
- any other failure (permission denied, table missing) raises at once, and a read still failing
  at the deadline raises :class:`BigtableUnavailable`: the bundle fails and the runner retries it;
- every second slept is in :attr:`ReadOutcome.waited_seconds`, for ``cumulativeThrottlingSeconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from transactions.excerpt import message_line
from transactions_pipeline.bigtable_connection import Cell, ReadAttempt, ScanAttempt
from transactions_pipeline.bigtable_writer import RETRYABLE_CALL_ERRORS, BigtableUnavailable, RetryPolicy

__all__ = ["BigtableReader", "ReadOutcome"]


class ReadOutcome(NamedTuple):
    rows: dict[bytes, list[Cell]]
    """Each row found, by key: its cells (family, qualifier, value)."""
    attempts: int
    waited_seconds: float = 0.0
    """Time spent backing off (``cumulativeThrottlingSeconds``)."""


class BigtableReader:
    """Reads sets of rows of one table with the policy above; ``read_attempt`` is the
    connection's ``ReadRows`` call (tests script one, or aim it at the fault proxy)."""

    def __init__(
        self,
        read_attempt: ReadAttempt,
        table_name: str,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._attempt = read_attempt
        self._table_name = table_name
        self._policy = policy
        self._sleep = sleep
        self._clock = clock

    def read(self, keys: Sequence[bytes], row_filter: Any = None) -> ReadOutcome:
        """The rows of ``keys`` that exist (with ``row_filter`` applied), retried as above."""
        wanted = sorted(set(keys))
        if not wanted:
            return ReadOutcome({}, 0)

        def after(last: bytes | None) -> list[bytes]:
            return wanted if last is None else [key for key in wanted if key > last]

        def attempt(last: bytes | None, timeout: float) -> Iterable[tuple[bytes, list[Cell]]]:
            pending = after(last)
            return self._attempt(pending, row_filter, timeout) if pending else ()

        return self._retried(attempt, lambda last: f"{len(after(last))} rows")

    def scan(self, scan_attempt: ScanAttempt, row_filter: Any = None) -> ReadOutcome:
        """Every row of the table (with ``row_filter`` applied), retried as above: a small table
        read whole, as the forgotten list is."""
        return self._retried(
            lambda last, timeout: scan_attempt(last or b"", row_filter, timeout),
            # never a key: the forgotten list's keys are the ids of people who asked to be erased
            lambda last: "the table" if last is None else "the rest of the table",
        )

    def _retried(
        self,
        attempt: Callable[[bytes | None, float], Iterable[tuple[bytes, list[Cell]]]],
        left: Callable[[bytes | None], str],
    ) -> ReadOutcome:
        """Call ``attempt(after the last whole row, timeout)`` until one ends whole, or the deadline."""
        policy = self._policy
        rows: dict[bytes, list[Cell]] = {}
        deadline = self._clock() + policy.operation_timeout_seconds
        attempts, waited = 0, 0.0
        while True:
            attempts += 1
            timeout = max(0.001, min(policy.attempt_timeout_seconds, deadline - self._clock()))
            try:
                for key, cells in attempt(max(rows, default=None), timeout):
                    rows[key] = cells
                return ReadOutcome(rows, attempts, waited)
            except RETRYABLE_CALL_ERRORS as error:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    raise BigtableUnavailable(
                        f"{self._table_name}: reading {left(max(rows, default=None))} still failing after "
                        f"{attempts} attempts in {policy.operation_timeout_seconds:g}s: "
                        f"{type(error).__name__}: {message_line(error)}"
                    ) from error
                delay = min(policy.backoff(attempts), remaining)
                waited += delay
                self._sleep(delay)
