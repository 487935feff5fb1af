"""The forgotten users as the job sees them: the whole list, read again every ``forgotten_refresh``.

``ParseAndValidate`` asks :meth:`ForgottenList.current` for each record, and drops the old records
of a user who asked to be forgotten (the rule: :class:`transactions.forgotten.ForgottenUsers`).
The list is read whole from its table, through the job's Bigtable client and the reader's retry
rule (``bigtable_reader``): a busy table delays the read, and one still failing past the budget
fails the bundle, which the runner retries; no record is ever let through on a list it could not
read. The list in use is never older than the refresh period plus one read: a period is a slot of
wall-clock time (``forgotten_refresh``, 60 s by default), and the first record of a new slot reads
the list again.

One copy per worker process, shared by its threads and by both steps that read it (Beam's
``Shared``, whose key travels with the one ``ForgottenList`` the pipeline gives both): the first
thread to need the new slot's list reads it, the others wait for it and take it. A DoFn opens its
connection only when it is the one to read, so a worker's many threads hold no idle clients.

Why not a Beam side input, refreshed by a ``PeriodicImpulse``: the job reads in the global window,
and on the Python direct runner (``make demo``, the tests) a main input in the global window waits
for the side input's watermark to reach the end of time (``runners/direct/executor.py``, the
``block_until`` of the side input's window, ``evaluation_context.py``
``get_value_or_block_until_ready``): a refreshing side input never gets there, and the stream would
stop. Beam's other pattern, a side input in fixed windows, maps a record by its timestamp, and a
rewound message keeps its old publish time, whose window has no list in it: the very record the
list is for would pass. Beam's own page on side-input patterns gives no Python sample for the
global-window one (https://beam.apache.org/documentation/patterns/side-inputs/).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from apache_beam.utils import shared

from transactions import forgotten
from transactions.forgotten import DEFAULT_REFRESH_SECONDS, ForgottenUsers
from transactions_pipeline.bigtable_connection import Connection, ConnectionFactory, bigtable_connection
from transactions_pipeline.bigtable_reader import BigtableReader
from transactions_pipeline.bigtable_writer import BigtableTarget, RetryPolicy

__all__ = ["ForgottenList"]


class ForgottenList:
    """A worker's view of the forgotten list in ``target``'s table (pickled with its DoFn; call
    :meth:`setup` and :meth:`teardown` from the DoFn's own)."""

    def __init__(
        self,
        target: BigtableTarget,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        policy: RetryPolicy = RetryPolicy(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if refresh_seconds <= 0:
            raise ValueError(f"refresh_seconds must be positive, got {refresh_seconds}")
        self._target = target
        self._refresh_seconds = refresh_seconds
        self._policy = policy
        self._clock = clock
        self._shared = shared.Shared()
        self._client_factory: ConnectionFactory = bigtable_connection

    def setup(self) -> None:
        """Have the list before the first record (read now, unless this slot's is read already)."""
        self._opened = ExitStack()
        self._connection: Connection | None = None
        self._slot: int | None = None
        self.current()

    def current(self) -> ForgottenUsers:
        """The list of this slot of wall-clock time: read once per process when the slot begins."""
        slot = int(self._clock() // self._refresh_seconds)
        if slot != self._slot:
            self._users: ForgottenUsers = self._shared.acquire(self._read, tag=(self._target.table_name, slot))
            self._slot = slot
        return self._users

    def teardown(self) -> None:
        opened = getattr(self, "_opened", None)
        if opened is not None:
            opened.close()

    def _read(self) -> ForgottenUsers:
        from google.cloud.bigtable.data import row_filters

        if self._connection is None:  # this DoFn's first read: its own client, closed at teardown
            self._connection = self._client_factory(self._target)
            self._opened.callback(self._connection.close)

        latest = row_filters.RowFilterChain(
            [
                row_filters.FamilyNameRegexFilter(forgotten.FAMILY),
                row_filters.ColumnQualifierRegexFilter(forgotten.COLUMN),
                row_filters.CellsColumnLimitFilter(1),
            ]
        )
        reader = BigtableReader(self._connection.read, self._target.table_name, self._policy)
        rows = reader.scan(self._connection.scan, latest).rows
        return ForgottenUsers.from_rows((key, cells[0][2]) for key, cells in rows.items() if cells)

    def __getstate__(self) -> dict[str, Any]:
        """What travels with the DoFn: the settings, never an open connection."""
        state = dict(self.__dict__)
        for opened in ("_opened", "_connection", "_slot", "_users"):
            state.pop(opened, None)
        return state
