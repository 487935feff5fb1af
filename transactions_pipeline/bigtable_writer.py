"""Send one batch of rows to Bigtable and settle every row: written, dead letter, or raise.

Each row's ``MutateRowsRequest`` entry is already encoded, and a batch goes out as bytes
through a sender on the generated client's own channel (:mod:`transactions_wire.bigtable`);
why our own sink at all: ``docs/architecture.md``, "Why our own sink".

The structure follows python-bigtable's ``_MutateRowsOperation``: an operation of one batch
runs attempts (one ``MutateRows`` call each, on the entries still pending) until every entry is
settled or the operation's deadline passes, and one function (:meth:`_Operation.settle`) decides
what each answer means (``docs/dead-letters.md``, "Failure and retry policy", says the same):

- OK: written.
- A data error (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, OUT_OF_RANGE): no retry can fix
  it; the entry becomes a write dead letter at once.
- A transient code for the entry (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ABORTED,
  CANCELLED), or no answer for it (a stream cut halfway): never the row's fault, whatever the other
  entries of the batch did. A hot tablet or a cluster under load answers so for some entries while
  others succeed, and RESOURCE_EXHAUSTED or ABORTED is the service pushing back. The entry is
  retried with backoff, never charged, until the operation's deadline, as python-bigtable does.
- An ambiguous code for the entry (INTERNAL, UNKNOWN, or any other): charged to the entry, and
  dead-lettered after ``max_entry_attempts`` (the emulator answers INTERNAL for an unknown
  column family, where the service answers NOT_FOUND).
- A transient failure of the whole call (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
  ABORTED, INTERNAL, UNKNOWN): an outage, nobody's fault, retried the same way.
- Any other failure of the whole call (permission denied, table missing) raises at once.

When the deadline (``operation_timeout_seconds`` since the first attempt) passes with entries
still pending, :class:`BigtableUnavailable` fails the bundle: nothing of it is acknowledged, the
runner retries it (Dataflow, in a stream, until it succeeds), and the event-time cells make the
rows already written harmless to write again.

So the longest one batch can hold its bundle is ``operation_timeout_seconds`` plus one attempt's
timeout (``docs/dead-letters.md``, "Failure and retry policy"). Every second slept in backoff, or
held back by the throttler, is in the batch's ``WriteOutcome.waited_seconds``, for Beam's
``cumulativeThrottlingSeconds`` counter.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple, Protocol

from google.api_core import exceptions as api_exceptions
from google.rpc import code_pb2

from transactions import resource_names
from transactions.dead_letters import WRITE_REASON_PREFIX
from transactions.excerpt import message_line
from transactions_wire.bigtable import Sender, mutate_rows_request_bytes, routing_metadata

Entry = bytes
"""An encoded ``MutateRowsRequest.Entry``."""

MAX_MUTATIONS_PER_CALL = 100_000
"""Bigtable's limit on the mutations of one ``MutateRows`` request."""

DATA_ERROR_CODES = frozenset(
    {code_pb2.INVALID_ARGUMENT, code_pb2.NOT_FOUND, code_pb2.FAILED_PRECONDITION, code_pb2.OUT_OF_RANGE}
)
"""Per-entry codes that no retry can fix: dead-letter the entry at once."""
TRANSIENT_CODES = frozenset(
    {
        code_pb2.UNAVAILABLE,
        code_pb2.RESOURCE_EXHAUSTED,
        code_pb2.DEADLINE_EXCEEDED,
        code_pb2.ABORTED,
        code_pb2.CANCELLED,
    }
)
"""Per-entry codes that are never the row's fault: retried until the operation's deadline, uncharged.
Any other code (INTERNAL, UNKNOWN, ...) is ambiguous: charged, dead-lettered after ``max_entry_attempts``."""
RETRYABLE_CALL_ERRORS = (
    api_exceptions.ServiceUnavailable,
    api_exceptions.DeadlineExceeded,
    api_exceptions.ResourceExhausted,
    api_exceptions.Aborted,
    api_exceptions.InternalServerError,
    api_exceptions.Unknown,
)
"""Failures of a whole call that are worth another attempt."""


class BigtableUnavailable(RuntimeError):
    """Transient failures outlasted the operation's deadline: fail the bundle so the runner retries."""


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
        return resource_names.table_path(self.project, self.instance, self.table)


def _require_positive(settings: Any) -> None:
    for field in fields(settings):
        value = getattr(settings, field.name)
        if not value > 0:
            raise ValueError(f"{type(settings).__name__}.{field.name} must be > 0, got {value!r}")


@dataclass(frozen=True)
class BatchLimits:
    """When to send: the first limit reached closes a batch."""

    max_rows: int = 1000
    max_bytes: int = 8 * 1024 * 1024
    max_mutations: int = MAX_MUTATIONS_PER_CALL

    def __post_init__(self) -> None:
        _require_positive(self)
        if self.max_mutations > MAX_MUTATIONS_PER_CALL:
            raise ValueError(f"BatchLimits.max_mutations is at most {MAX_MUTATIONS_PER_CALL}: Bigtable's limit")


@dataclass(frozen=True)
class RetryPolicy:
    """How long one batch may retry, and how often one entry may fail on its own.

    ``operation_timeout_seconds`` is the outage budget of a batch (from its first attempt);
    ``attempt_timeout_seconds`` bounds each call (and never reaches past the operation's
    deadline); backoff between attempts grows from ``initial_backoff_seconds`` by
    ``backoff_multiplier`` up to ``max_backoff_seconds``, with jitter.
    """

    operation_timeout_seconds: float = 300.0
    attempt_timeout_seconds: float = 60.0
    max_entry_attempts: int = 4
    initial_backoff_seconds: float = 0.1
    max_backoff_seconds: float = 10.0
    backoff_multiplier: float = 2.0

    def __post_init__(self) -> None:
        _require_positive(self)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th attempt (1-based), jittered to 50-100%."""
        delay = min(self.max_backoff_seconds, self.initial_backoff_seconds * self.backoff_multiplier ** (attempt - 1))
        return delay * random.uniform(0.5, 1.0)


class FailedEntry(NamedTuple):
    """A row that will not be written: its position in the batch and why."""

    batch_index: int
    reason: str
    detail: str


class WriteOutcome(NamedTuple):
    written: int
    failed: list[FailedEntry]
    calls: int
    waited_seconds: float = 0.0
    """Time spent backing off or held back by the throttler (``cumulativeThrottlingSeconds``)."""
    retried: int = 0
    """Entries sent again after a failed attempt."""


class Throttler(Protocol):
    """Client-side adaptive throttling (Beam's ``AdaptiveThrottler`` has this shape)."""

    def throttle_request(self, now_ms: float) -> bool: ...

    def successful_request(self, now_ms: float) -> None: ...


def status_name(code: int) -> str:
    """``not_found`` for 5: the google.rpc.Code name in lower case (``code_<n>`` if unknown)."""
    try:
        return code_pb2.Code.Name(code).lower()
    except ValueError:
        return f"code_{code}"


Answers = tuple[dict[int, tuple[int, str]], "set[int] | None"]
"""An attempt's answers: position -> (code, message) of each entry that failed, and the positions
answered at all (None when every entry was answered: the common case, checked cheaply)."""


class _Operation:
    """The state of one batch across its attempts; :meth:`settle` is where every decision is made."""

    def __init__(self, size: int, max_entry_attempts: int) -> None:
        self.pending = list(range(size))
        self.failed: list[FailedEntry] = []
        self.attempts = 0
        self.last_transient = ""
        """What kept entries pending last time, for the error that fails the bundle at the deadline."""
        self._charged = [0] * size
        self._max_entry_attempts = max_entry_attempts

    def settle(self, answers: Answers, call_error: Exception | None) -> int:
        """Sort the pending entries by the attempt's answers; returns how many it wrote (the
        service accepted work: for the adaptive throttler, a success, even if others failed)."""
        self.attempts += 1
        failures, answered = answers
        if answered is None and not failures:  # the common case: every entry written
            written, self.pending = len(self.pending), []
            return written
        transient: dict[str, int] = {}
        pending = []
        written = 0
        for position, index in enumerate(self.pending):
            if position in failures:
                code, message = failures[position]
            elif answered is None or position in answered:
                written += 1
                continue
            else:
                code, message = None, "no answer for this row (the response stream broke off)"
            if code is not None and code in DATA_ERROR_CODES:
                self.failed.append(_failure(index, code, message, 1))
            elif code is None or code in TRANSIENT_CODES:
                pending.append(index)  # not the entry's fault: it is not charged
                name = "NO ANSWER" if code is None else status_name(code).upper()
                transient[name] = transient.get(name, 0) + 1
            else:
                self._charged[index] += 1
                if self._charged[index] >= self._max_entry_attempts:
                    self.failed.append(_failure(index, code, message, self._charged[index]))
                else:
                    pending.append(index)
        self.pending = pending
        if call_error is not None:
            self.last_transient = f"{type(call_error).__name__}: {message_line(call_error)}"
        elif transient:
            self.last_transient = ", ".join(f"{name} for {count} rows" for name, count in transient.items())
        return written


class BigtableBatchWriter:
    """Writes batches of encoded entries with the policy above.

    ``send`` is a :data:`~transactions_wire.bigtable.Sender`: the generated client's
    channel in a job; tests of failure modes the emulator cannot produce script one.
    ``throttler``, when given, may hold an attempt back (adaptive throttling of a bulk load).
    Each batch's total wait (back-off and throttling) and retried entries are in its
    :class:`WriteOutcome`, which the sink turns into metrics on its own thread.
    """

    def __init__(
        self,
        send: Sender,
        target: BigtableTarget,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        throttler: Throttler | None = None,
        throttle_delay_seconds: float = 1.0,
    ) -> None:
        self._send = send
        self._routing = routing_metadata(target.table_name, target.app_profile_id)
        self._target = target
        self._policy = policy
        self._sleep = sleep
        self._clock = clock
        self._throttler = throttler
        self._throttle_delay = throttle_delay_seconds

    def write(self, entries: Sequence[Entry]) -> WriteOutcome:
        """Write a batch: attempts until every entry is settled, as the policy above says."""
        policy = self._policy
        operation = _Operation(len(entries), policy.max_entry_attempts)
        waited, retried = self._wait_for_throttler(), 0
        deadline = self._clock() + policy.operation_timeout_seconds
        timeout = min(policy.attempt_timeout_seconds, policy.operation_timeout_seconds)
        answers, call_error = self._attempt(list(entries), timeout)
        while True:
            if call_error is not None and not isinstance(call_error, RETRYABLE_CALL_ERRORS):
                raise call_error
            if operation.settle(answers, call_error) and self._throttler is not None:
                # Any entry written is a request the service accepted. Counting only attempts
                # that wrote everything would, while a hot tablet refuses a share of each call,
                # record no success at all, and Beam's throttler would then hold back nearly
                # every attempt until the operation's deadline failed the bundle.
                self._throttler.successful_request(time.time() * 1000)
            if not operation.pending:
                break
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise BigtableUnavailable(
                    f"{self._target.table_name}: {len(operation.pending)} rows still failing after "
                    f"{operation.attempts} attempts in {policy.operation_timeout_seconds:g}s: "
                    f"{operation.last_transient or 'ambiguous errors'}"
                )
            delay = min(policy.backoff(operation.attempts), remaining)
            waited += delay
            retried += len(operation.pending)
            self._sleep(delay)
            waited += self._wait_for_throttler()
            timeout = max(0.001, min(policy.attempt_timeout_seconds, deadline - self._clock()))
            answers, call_error = self._attempt([entries[i] for i in operation.pending], timeout)
        operation.failed.sort()
        written = len(entries) - len(operation.failed)
        return WriteOutcome(written, operation.failed, operation.attempts, waited, retried)

    def _wait_for_throttler(self) -> float:
        waited = 0.0
        if self._throttler is None:
            return waited
        while self._throttler.throttle_request(time.time() * 1000):
            waited += self._throttle_delay
            self._sleep(self._throttle_delay)
        return waited

    def _attempt(self, entries: list[Entry], timeout: float) -> tuple[Answers, Exception | None]:
        """One ``MutateRows`` call on ``entries``: its answers, read as they come, and its error if it broke."""
        request = mutate_rows_request_bytes(self._target.table_name, self._target.app_profile_id, entries)
        failures: dict[int, tuple[int, str]] = {}
        received = []
        try:
            for response in self._send(request, self._routing, timeout):
                answers = response.entries
                received.append(answers)
                for entry in answers:
                    if entry.status.code:
                        failures[entry.index] = (entry.status.code, entry.status.message)
        except api_exceptions.GoogleAPICallError as error:
            return (failures, _indices(received)), error
        # The service answers each entry once, so a full count means every entry was answered.
        complete = sum(len(answers) for answers in received) == len(entries)
        return (failures, None if complete else _indices(received)), None


def _indices(received: list) -> set[int]:
    return {entry.index for answers in received for entry in answers}


def _failure(index: int, code: int, message: str, attempts: int) -> FailedEntry:
    name = status_name(code)
    detail = f"Bigtable answered {name.upper()} for this row"
    if attempts > 1:
        detail += f" {attempts} times"
    return FailedEntry(index, WRITE_REASON_PREFIX + name, f"{detail}: {message_line(message)}")
