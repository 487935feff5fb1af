"""How a worker reaches a Bigtable table: one client, its ``MutateRows`` sender and its
``ReadRows`` attempt, closed together.

Both sinks (:mod:`transactions_pipeline.bigtable_sink`, :mod:`transactions_pipeline.rollup_sink`)
take a :data:`ConnectionFactory`, so that a test can script what Bigtable answers; in a job it is
:func:`bigtable_connection`. The client is python-bigtable's data client
(:func:`transactions_wire.clients.bigtable_data`): its ``close()`` closes the channel, where the
classic client's leaves it open, and its ``read_rows`` takes the codes to retry, where the
classic ``Table.read_rows`` keeps only its ``Retry``'s deadline (``docs/architecture.md``,
"Clients"). Retries are never the library's: both calls are sent with none, and
:mod:`transactions_pipeline.bigtable_writer` and :mod:`transactions_pipeline.bigtable_reader`
apply one rule (``docs/dead-letters.md``, "Failure and retry policy").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from typing import Any, NamedTuple

from transactions_pipeline.bigtable_writer import BigtableTarget, Throttler
from transactions_wire import clients
from transactions_wire.bigtable import Sender, mutate_rows_sender, read_rows_after, read_rows_by_keys

__all__ = [
    "Cell",
    "Connection",
    "ConnectionFactory",
    "ReadAttempt",
    "ScanAttempt",
    "adaptive_throttler",
    "bigtable_connection",
]

Cell = tuple[str, bytes, bytes]
"""(family, qualifier, value) of a row's latest cell."""
ReadAttempt = Callable[[Sequence[bytes], Any, float], Iterable[tuple[bytes, list[Cell]]]]
"""One ``ReadRows`` call: (row keys in order, a ``google.cloud.bigtable.data`` row filter or None,
timeout) -> each row found, in key order, as (key, cells). No retry: the caller's."""
ScanAttempt = Callable[[bytes, Any, float], Iterable[tuple[bytes, list[Cell]]]]
"""One ``ReadRows`` call over the whole table: (the rows after this key, b"" for all; a row filter
or None; timeout) -> each row, in key order, as (key, cells). No retry: the caller's."""


def _no_reads(keys: Sequence[bytes], row_filter: Any, timeout: float) -> Iterable[tuple[bytes, list[Cell]]]:
    raise NotImplementedError("this connection only writes")


def _no_scans(after: bytes, row_filter: Any, timeout: float) -> Iterable[tuple[bytes, list[Cell]]]:
    raise NotImplementedError("this connection only writes")


class Connection(NamedTuple):
    """A worker's way to one table: send ``MutateRows`` requests, read rows, and close it all."""

    send: Sender
    close: Callable[[], None]
    read: ReadAttempt = _no_reads
    scan: ScanAttempt = _no_scans


ConnectionFactory = Callable[[BigtableTarget], Connection]


def bigtable_connection(target: BigtableTarget) -> Connection:
    """The data client on ``target``'s project (ADC, the endpoint and ``BIGTABLE_EMULATOR_HOST``
    are the library's), a ``MutateRows`` sender on its channel, and a ``ReadRows`` attempt on
    ``target``'s table and app profile."""
    opened = ExitStack()
    client = opened.enter_context(clients.bigtable_data(target.project))
    table = client.get_table(target.instance, target.table, app_profile_id=target.app_profile_id or None)

    def rows_of(query: dict[str, Any], timeout: float) -> Iterable[tuple[bytes, list[Cell]]]:
        rows = table.read_rows_stream(query, operation_timeout=timeout, attempt_timeout=timeout, retryable_errors=())
        for row in rows:
            yield row.row_key, [(cell.family, cell.qualifier, cell.value) for cell in row.cells]

    def read(keys: Sequence[bytes], row_filter: Any, timeout: float) -> Iterable[tuple[bytes, list[Cell]]]:
        return rows_of(read_rows_by_keys(keys, row_filter), timeout)

    def scan(after: bytes, row_filter: Any, timeout: float) -> Iterable[tuple[bytes, list[Cell]]]:
        return rows_of(read_rows_after(after, row_filter), timeout)

    return Connection(mutate_rows_sender(client), opened.close, read, scan)


def adaptive_throttler() -> Throttler:
    """Beam's client-side throttler, with the settings its Datastore sink uses: two minutes of
    history in one-second buckets, throttling once requests exceed successes by a quarter. Behind
    a lock: a sink may write from threads of its own (the rollups' sink does, one or two, while the
    bundle's thread gathers the next batch), and Beam's counters are not made for two threads at once."""
    from apache_beam.io.components.adaptive_throttler import AdaptiveThrottler

    return _Locked(AdaptiveThrottler(window_ms=120_000, bucket_ms=1_000, overload_ratio=1.25))


class _Locked:
    """A :class:`Throttler` whose two calls never run at once."""

    def __init__(self, throttler: Throttler) -> None:
        self._throttler = throttler
        self._lock = threading.Lock()

    def throttle_request(self, now_ms: float) -> bool:
        with self._lock:
            return self._throttler.throttle_request(now_ms)

    def successful_request(self, now_ms: float) -> None:
        with self._lock:
            self._throttler.successful_request(now_ms)
