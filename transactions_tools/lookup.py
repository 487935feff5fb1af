"""``transacoes-lookup``: a user's latest transactions, or the live rollups, read from Bigtable.

Works against the emulator (``BIGTABLE_EMULATOR_HOST``) or a real instance (Application
Default Credentials). The row keys' layouts, and reading them back, are the contract
package's (:mod:`transactions.layout`, :mod:`transactions.rollup_layout`).

    transacoes-lookup 02428050 [--limit 5] [--project P --instance I --table T]
    transacoes-lookup --category Books [--minutes 5] [--until 2025-12-05T21:20] [--rollups-table T]
    transacoes-lookup --user-days 02428050 [--days 7] [--until 2025-12-05]
    transacoes-lookup ... --json     (what is shown, as one JSON document)

A user's transactions come from one prefix scan, newest first; a rollup's windows from one
key-range scan over the windows that end by ``--until`` (default: now, UTC), newest first.

A busy cluster is retried, not reported at once: a read refused with UNAVAILABLE,
RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED or ABORTED, or cut halfway, is tried again with backoff
(python-bigtable's data client, resuming after the last row it got) for at most ``--timeout``
seconds (20). Then the command stops with one line naming the code and the time spent, exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from transactions import layout, rollup_layout
from transactions.cli_errors import ArgumentParser, check_names, finite_number, run_against_google
from transactions.contract import USER_ID_RULE, is_valid_user_id
from transactions.excerpt import excerpt, message_line
from transactions.formats import epoch_ms_to_rfc3339
from transactions.rollup_layout import Rollup
from transactions_tools import defaults
from transactions_wire import clients

if TYPE_CHECKING:
    from google.cloud.bigtable.data import ReadRowsQuery
    from google.cloud.bigtable.data.row_filters import RowFilterChain


DEFAULT_TIMEOUT_SECONDS = 20.0
ATTEMPT_TIMEOUT_SECONDS = 10.0


class StoredCell(Protocol):
    """A cell as python-bigtable's data client returns it (``google.cloud.bigtable.data.row.Cell``)."""

    @property
    def family(self) -> str: ...

    @property
    def qualifier(self) -> bytes: ...

    @property
    def value(self) -> bytes: ...


class StoredRow(Protocol):
    """A row as the data client's ``Table.read_rows`` returns it: its key, and its cells, sorted by
    family and qualifier, newest first within a column."""

    @property
    def row_key(self) -> bytes: ...

    @property
    def cells(self) -> Sequence[StoredCell]: ...


class ReadableTable(Protocol):
    """What the lookups use of a ``google.cloud.bigtable.data.Table`` (a test scripts one)."""

    def read_rows(
        self,
        query: ReadRowsQuery,
        *,
        operation_timeout: float,
        attempt_timeout: float,
        retryable_errors: Sequence[type[Exception]],
    ) -> Sequence[StoredRow]: ...


class BigtableBusy(Exception):
    """Every attempt of a read within ``--timeout`` failed with a transient code (exit code 1)."""


def transient_errors() -> tuple[type[Exception], ...]:
    """The codes a busy or restarting cluster answers, retried until ``--timeout``: the rule the
    job's own reads and writes follow (``docs/dead-letters.md``, "Failure and retry policy")."""
    from google.api_core import exceptions as api_exceptions

    return (
        api_exceptions.ServiceUnavailable,
        api_exceptions.ResourceExhausted,
        api_exceptions.DeadlineExceeded,
        api_exceptions.Aborted,
    )


def read(table: ReadableTable, query: ReadRowsQuery, timeout: float) -> Sequence[StoredRow]:
    """``query``'s rows, retried as the module says; :class:`BigtableBusy` when ``timeout`` runs out."""
    from google.api_core import exceptions as api_exceptions

    started = time.monotonic()
    try:
        return table.read_rows(
            query,
            operation_timeout=timeout,
            attempt_timeout=min(ATTEMPT_TIMEOUT_SECONDS, timeout),
            retryable_errors=transient_errors(),
        )
    except api_exceptions.DeadlineExceeded as error:
        spent = time.monotonic() - started
        attempts = list(getattr(error.__cause__, "exceptions", ())) or [error]
        last = attempts[-1]
        code = getattr(last, "grpc_status_code", None)
        name = code.name if code is not None else type(last).__name__
        raise BigtableBusy(
            f"Bigtable kept answering {name} for {spent:.0f}s ({len(attempts)} attempts; the last: "
            f"{message_line(last, limit=200)}); the cluster is busy or restarting: try again, or give more --timeout"
        ) from None


def newest_cells(row: StoredRow, family: str) -> dict[str, str]:
    """qualifier -> value of the newest cell of each column of ``family``."""
    found: dict[str, str] = {}
    for cell in row.cells:
        if cell.family == family:
            found.setdefault(cell.qualifier.decode(), cell.value.decode())
    return found


CELL_CHARS = 60
"""The most characters of one cell a table shows."""
COLUMNS = ("event_time", "transaction_id", *(q.decode() for q in layout.QUALIFIERS))


def display_time(epoch_ms: int) -> str:
    """``2025-12-05 21:13:52.076``: an event time as a table shows it (UTC)."""
    return epoch_ms_to_rfc3339(epoch_ms).replace("T", " ").rstrip("Z")


def latest_transactions(
    table: ReadableTable,
    user_id: str,
    limit: int,
    family: str = layout.FAMILY,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[dict[str, str]]:
    """Newest first, thanks to the reversed timestamp in the row key."""
    from google.cloud.bigtable.data import ReadRowsQuery

    query = ReadRowsQuery(row_ranges=prefix_range(layout.user_prefix(user_id)), limit=limit)
    found = []
    for row in read(table, query, timeout):
        key = layout.parse_row_key(row.row_key)
        record = newest_cells(row, family)
        record["event_time"] = display_time(key.event_time_ms)
        record["transaction_id"] = key.transaction_id
        found.append(record)
    return found


def rollup_windows(
    table: ReadableTable,
    rollup: Rollup,
    name: str,
    windows: int,
    until_ms: int,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[dict[str, str]]:
    """The last ``windows`` windows of ``name`` (a category or a user) up to ``until_ms``, newest first.

    Windows without a sale have no row, so fewer may come back.
    """
    from google.cloud.bigtable.data import ReadRowsQuery, RowRange

    last = rollup_layout.window_start_ms(rollup, until_ms)
    first = last - (windows - 1) * rollup.window_seconds * 1000
    start, end = rollup_layout.key_range(rollup, name, first, last)
    query = ReadRowsQuery(row_ranges=RowRange(start_key=start, end_key=end), row_filter=totals_only())
    found = [_rollup_record(rollup, row) for row in read(table, query, timeout)]
    return [record for record in reversed(found) if record[rollup.keyed_by] == name]


def latest_category_minutes(
    table: ReadableTable, minutes: int, until_ms: int, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> list[dict[str, str]]:
    """Every category's minutes among the last ``minutes`` up to ``until_ms``: newest, then by category."""
    from google.cloud.bigtable.data import ReadRowsQuery

    rollup = rollup_layout.CATEGORY_MINUTE
    first = rollup_layout.window_start_ms(rollup, until_ms) - (minutes - 1) * rollup.window_seconds * 1000
    prefix = f"{rollup.prefix}{rollup_layout.SEPARATOR}".encode()
    query = ReadRowsQuery(row_ranges=prefix_range(prefix), row_filter=totals_only())
    records = [_rollup_record(rollup, row) for row in read(table, query, timeout)]
    recent = [r for r in records if first <= int(r["start_ms"]) <= until_ms]
    return sorted(recent, key=lambda r: (-int(r["start_ms"]), r["category"]))


def prefix_range(prefix: bytes) -> Any:
    """Every key that starts with ``prefix`` (which never ends in 0xff: keys are text)."""
    from google.cloud.bigtable.data import RowRange

    return RowRange(start_key=prefix, end_key=prefix[:-1] + bytes([prefix[-1] + 1]))


def totals_only() -> RowFilterChain:
    """A rollup row's current totals: family ``agg``, the newest cell of each column (the one that
    counts the most transactions), never the ``ids`` family: one small read per window."""
    from google.cloud.bigtable.data.row_filters import CellsColumnLimitFilter, FamilyNameRegexFilter, RowFilterChain

    return RowFilterChain([FamilyNameRegexFilter(rollup_layout.FAMILY), CellsColumnLimitFilter(1)])


def _rollup_record(rollup: Rollup, row: StoredRow) -> dict[str, str]:
    key = rollup_layout.parse_rollup_key(row.row_key)
    record = newest_cells(row, rollup_layout.FAMILY)
    when = epoch_ms_to_rfc3339(key.start_ms).replace("T", " ")
    record["window"] = when[:16] if rollup.window_seconds < 86_400 else when[:10]  # a minute, or a day
    record[rollup.keyed_by] = key.name
    record["start_ms"] = str(key.start_ms)
    return record


def rollup_columns(rollup: Rollup) -> tuple[str, ...]:
    return ("window", rollup.keyed_by, rollup_layout.COUNT.decode(), rollup.money.decode())


def parse_until(text: str | None) -> int:
    """``--until``: ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` (UTC, 1980 to 9998) in epoch ms; now when absent."""
    if text is None:
        return int(datetime.now(UTC).timestamp() * 1000)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 1980 <= moment.year <= 9998:
        raise ValueError(f"year {moment.year} is out of range")
    return int(moment.timestamp() * 1000)


def format_table(records: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    """Records as aligned text columns, a header and a rule first; every value escaped and bounded
    (cells hold what producers sent: a category may carry control characters)."""
    records = [{column: message_line(value, limit=CELL_CHARS) for column, value in r.items()} for r in records]
    widths = {c: max([len(c)] + [len(r.get(c, "")) for r in records]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(r.get(c, "").ljust(widths[c]) for c in columns) for r in records]
    return "\n".join(lines)


@contextmanager
def open_table(project: str, instance: str, table: str) -> Iterator[ReadableTable]:
    """The data client's table, closed with its client on the way out."""
    with clients.bigtable_data(project) as client:
        yield client.get_table(instance, table)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="transacoes-lookup", description=__doc__.split("\n")[0])
    parser.add_argument("user_id", nargs="?", help="a user's latest transactions")
    parser.add_argument("--limit", type=finite_number(1, 10_000, int), default=5, help="how many (1-10000; 5)")
    parser.add_argument("--category", help="a category's totals per minute (from the rollups table)")
    parser.add_argument(
        "--minutes", type=finite_number(1, 10_080, int), default=5, help="with --category: how many minutes (5)"
    )
    parser.add_argument("--user-days", metavar="USER_ID", help="a user's totals per day (from the rollups table)")
    parser.add_argument("--days", type=finite_number(1, 3660, int), default=7, help="with --user-days: how many (7)")
    parser.add_argument("--until", help="the last window's time, UTC: YYYY-MM-DD or YYYY-MM-DDTHH:MM (default now)")
    parser.add_argument("--rollups-table", default=os.environ.get("BIGTABLE_ROLLUPS_TABLE", defaults.ROLLUPS_TABLE))
    parser.add_argument("--project", default=os.environ.get("BIGTABLE_PROJECT", defaults.PROJECT))
    parser.add_argument("--instance", default=os.environ.get("BIGTABLE_INSTANCE", defaults.INSTANCE))
    parser.add_argument("--table", default=os.environ.get("BIGTABLE_TABLE", defaults.TABLE))
    parser.add_argument("--column-family", default=defaults.COLUMN_FAMILY)
    parser.add_argument("--json", action="store_true", help="print what is shown as one JSON document, for scripts")
    parser.add_argument(
        "--timeout",
        type=finite_number(1, 600),
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds to keep retrying a busy cluster before giving up (1-600; 20)",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Connecting to Bigtable emulator")
    if sum(x is not None for x in (args.user_id, args.category, args.user_days)) != 1:
        parser.error("give exactly one of: a user id, --category NAME, --user-days USER_ID")
    check_names(parser, args, NAMED_OPTIONS)
    rollups = args.category is not None or args.user_days is not None
    try:
        return run_against_google(lambda: _rollups(parser, args) if rollups else _transactions(args), "Bigtable", 1)
    except BigtableBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


NAMED_OPTIONS = (
    ("project", "project"),
    ("instance", "bigtable_instance"),
    ("table", "bigtable_table"),
    ("rollups_table", "bigtable_table"),
    ("column_family", "column_family"),
)


def _transactions(args: argparse.Namespace) -> int:
    if not is_valid_user_id(args.user_id):
        print(f"error: {excerpt(args.user_id)} is not a user id ({USER_ID_RULE})", file=sys.stderr)
        return 2
    with open_table(args.project, args.instance, args.table) as table:
        records = latest_transactions(table, args.user_id, args.limit, args.column_family, args.timeout)
    if args.json:
        print(json.dumps({"user_id": args.user_id, "table": args.table, "transactions": records}, indent=2))
        return 0
    if not records:
        print(f"no transactions for user {excerpt(args.user_id)} in {args.table}")
        return 0
    print(f"latest {len(records)} transactions of user {message_line(args.user_id, limit=80)} (newest first):")
    print(format_table(records))
    return 0


def _rollups(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.category is not None:
        rollup, name, windows = rollup_layout.CATEGORY_MINUTE, args.category, args.minutes
    else:
        rollup, name, windows = rollup_layout.USER_DAY, args.user_days, args.days
    if not name.strip():
        parser.error("the category or user id must not be blank")
    if args.user_days is not None and not is_valid_user_id(name):
        print(f"error: --user-days: {excerpt(name)} is not a user id ({USER_ID_RULE})", file=sys.stderr)
        return 2
    try:
        until_ms = parse_until(args.until)
    except (ValueError, OverflowError):
        parser.error(f"--until: {excerpt(args.until)} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    with open_table(args.project, args.instance, args.rollups_table) as table:
        records = rollup_windows(table, rollup, name, windows, until_ms, args.timeout)
    if args.json:
        document = {rollup.keyed_by: name, "rollup": rollup.name, "table": args.rollups_table, "windows": records}
        print(json.dumps(document, indent=2))
        return 0
    unit = "minutes" if rollup == rollup_layout.CATEGORY_MINUTE else "days"
    if not records:
        print(f"no {rollup.name} totals for {excerpt(name)} in the last {windows} {unit} of {args.rollups_table}")
        return 0
    who = rollup.keyed_by.replace("_", " ")
    print(f"{who} {message_line(name, limit=80)}: totals of the last {windows} {unit} (newest first, UTC):")
    print(format_table(records, rollup_columns(rollup)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
