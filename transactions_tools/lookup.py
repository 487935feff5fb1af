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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from datetime import UTC, datetime

from transactions import layout, rollup_layout
from transactions.cli_errors import ArgumentParser, check_names, finite_number, run_against_google
from transactions.excerpt import excerpt, message_line
from transactions.formats import epoch_ms_to_rfc3339
from transactions.rollup_layout import Rollup
from transactions_tools import defaults

CELL_CHARS = 60
"""The most characters of one cell a table shows."""
COLUMNS = ("event_time", "transaction_id", *(q.decode() for q in layout.QUALIFIERS))


def display_time(epoch_ms: int) -> str:
    """``2025-12-05 21:13:52.076``: an event time as a table shows it (UTC)."""
    return epoch_ms_to_rfc3339(epoch_ms).replace("T", " ").rstrip("Z")


def latest_transactions(table, user_id: str, limit: int, family: str = layout.FAMILY) -> list[dict[str, str]]:
    """Newest first, thanks to the reversed timestamp in the row key."""
    from google.cloud.bigtable.row_set import RowSet

    row_set = RowSet()
    row_set.add_row_range_with_prefix(layout.user_prefix(user_id).decode())
    found = []
    for row in table.read_rows(row_set=row_set, limit=limit):
        key = layout.parse_row_key(row.row_key)
        cells = row.cells.get(family, {})
        record = {qualifier.decode(): versions[0].value.decode() for qualifier, versions in cells.items()}
        record["event_time"] = display_time(key.event_time_ms)
        record["transaction_id"] = key.transaction_id
        found.append(record)
    return found


def rollup_windows(table, rollup: Rollup, name: str, windows: int, until_ms: int) -> list[dict[str, str]]:
    """The last ``windows`` windows of ``name`` (a category or a user) up to ``until_ms``, newest first.

    Windows without a sale have no row, so fewer may come back.
    """
    from google.cloud.bigtable.row_set import RowSet

    last = rollup_layout.window_start_ms(rollup, until_ms)
    first = last - (windows - 1) * rollup.window_seconds * 1000
    start, end = rollup_layout.key_range(rollup, name, first, last)
    row_set = RowSet()
    row_set.add_row_range_from_keys(start_key=start, end_key=end)
    found = [_rollup_record(rollup, row) for row in table.read_rows(row_set=row_set, filter_=totals_only())]
    return [record for record in reversed(found) if record[rollup.keyed_by] == name]


def latest_category_minutes(table, minutes: int, until_ms: int) -> list[dict[str, str]]:
    """Every category's minutes among the last ``minutes`` up to ``until_ms``: newest, then by category."""
    from google.cloud.bigtable.row_set import RowSet

    rollup = rollup_layout.CATEGORY_MINUTE
    first = rollup_layout.window_start_ms(rollup, until_ms) - (minutes - 1) * rollup.window_seconds * 1000
    row_set = RowSet()
    row_set.add_row_range_with_prefix(f"{rollup.prefix}{rollup_layout.SEPARATOR}")
    records = [_rollup_record(rollup, row) for row in table.read_rows(row_set=row_set, filter_=totals_only())]
    recent = [r for r in records if first <= int(r["start_ms"]) <= until_ms]
    return sorted(recent, key=lambda r: (-int(r["start_ms"]), r["category"]))


def totals_only():
    """A rollup row's current totals: family ``agg``, the newest cell of each column (the one that
    counts the most transactions), never the ``ids`` family: one small read per window."""
    from google.cloud.bigtable.row_filters import CellsColumnLimitFilter, FamilyNameRegexFilter, RowFilterChain

    return RowFilterChain([FamilyNameRegexFilter(rollup_layout.FAMILY), CellsColumnLimitFilter(1)])


def _rollup_record(rollup: Rollup, row) -> dict[str, str]:
    key = rollup_layout.parse_rollup_key(row.row_key)
    cells = row.cells.get(rollup_layout.FAMILY, {})
    record = {qualifier.decode(): versions[0].value.decode() for qualifier, versions in cells.items()}
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


def open_table(project: str, instance: str, table: str):
    from google.cloud import bigtable

    return bigtable.Client(project=project, admin=True).instance(instance).table(table)


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
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Connecting to Bigtable emulator")
    if sum(x is not None for x in (args.user_id, args.category, args.user_days)) != 1:
        parser.error("give exactly one of: a user id, --category NAME, --user-days USER_ID")
    check_names(parser, args, NAMED_OPTIONS)
    if args.category is not None or args.user_days is not None:
        return run_against_google(lambda: _rollups(parser, args), "Bigtable", 1)
    return run_against_google(lambda: _transactions(args), "Bigtable", 1)


NAMED_OPTIONS = (
    ("project", "project"),
    ("instance", "bigtable_instance"),
    ("table", "bigtable_table"),
    ("rollups_table", "bigtable_table"),
    ("column_family", "column_family"),
)


def _transactions(args: argparse.Namespace) -> int:
    if "#" in args.user_id or not 0 < len(args.user_id) <= 64:
        print(f"error: {excerpt(args.user_id)} is not a user id (1-64 characters without '#')", file=sys.stderr)
        return 2
    table = open_table(args.project, args.instance, args.table)
    records = latest_transactions(table, args.user_id, args.limit, args.column_family)
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
    try:
        until_ms = parse_until(args.until)
    except (ValueError, OverflowError):
        parser.error(f"--until: {excerpt(args.until)} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM")
    table = open_table(args.project, args.instance, args.rollups_table)
    records = rollup_windows(table, rollup, name, windows, until_ms)
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
