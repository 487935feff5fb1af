"""``transacoes-lookup``: a user's latest transactions, read from Bigtable with a prefix scan.

Works against the emulator (``BIGTABLE_EMULATOR_HOST``) or a real instance (Application
Default Credentials). The row key's layout, and reading it back, are contract v1's
(:mod:`transactions.layout`).

    transacoes-lookup 02428050 [--limit 5] [--project P --instance I --table T]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from google.api_core import exceptions as api_exceptions

from transactions import layout
from transactions.formats import epoch_ms_to_rfc3339
from transactions_tools import defaults

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


def format_table(records: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    """Records as aligned text columns, a header and a rule first."""
    widths = {c: max([len(c)] + [len(r.get(c, "")) for r in records]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(r.get(c, "").ljust(widths[c]) for c in columns) for r in records]
    return "\n".join(lines)


def open_table(project: str, instance: str, table: str):
    from google.cloud import bigtable

    return bigtable.Client(project=project, admin=True).instance(instance).table(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transacoes-lookup", description=__doc__.split("\n")[0])
    parser.add_argument("user_id")
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--project", default=os.environ.get("BIGTABLE_PROJECT", defaults.PROJECT))
    parser.add_argument("--instance", default=os.environ.get("BIGTABLE_INSTANCE", defaults.INSTANCE))
    parser.add_argument("--table", default=os.environ.get("BIGTABLE_TABLE", defaults.TABLE))
    parser.add_argument("--column-family", default=defaults.COLUMN_FAMILY)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Connecting to Bigtable emulator")
    if "#" in args.user_id or not args.user_id:
        print("error: a user id is 1-64 characters without '#'", file=sys.stderr)
        return 2
    table = open_table(args.project, args.instance, args.table)
    try:
        records = latest_transactions(table, args.user_id, args.limit, args.column_family)
    except api_exceptions.GoogleAPICallError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    if not records:
        print(f"no transactions for user {args.user_id!r} in {args.table}")
        return 0
    print(f"latest {len(records)} transactions of user {args.user_id} (newest first):")
    print(format_table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
