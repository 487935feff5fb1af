"""Print a user's latest transactions from Bigtable: a prefix scan on ``user_id#``.

Works against the emulator (``BIGTABLE_EMULATOR_HOST``) or a real instance (ADC).

    python -m template.lookup 02428050 [--limit 5] [--project P --instance I --table T]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from google.api_core import exceptions as api_exceptions

from template.contract import MAX_EVENT_MS
from template.options import DEFAULT_COLUMN_FAMILY

COLUMNS = ("event_time", "transaction_id", "product_id", "category", "price", "discount", "final_price",
           "payment", "purchase_date")  # fmt: skip


def latest_transactions(table, user_id: str, limit: int, family: str = DEFAULT_COLUMN_FAMILY) -> list[dict]:
    """Newest first, thanks to the reversed timestamp in the row key."""
    from datetime import UTC, datetime

    from google.cloud.bigtable.row_set import RowSet

    prefix = f"{user_id}#".encode()
    row_set = RowSet()
    row_set.add_row_range_with_prefix(prefix.decode())
    found = []
    for row in table.read_rows(row_set=row_set, limit=limit):
        _, reverse_ms, transaction_id = row.row_key.decode().split("#", 2)
        moment = datetime.fromtimestamp((MAX_EVENT_MS - int(reverse_ms)) / 1000, tz=UTC)
        cells = row.cells.get(family, {})
        record = {q.decode(): cells_[0].value.decode() for q, cells_ in cells.items()}
        record["event_time"] = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
        record["transaction_id"] = transaction_id
        found.append(record)
    return found


def format_table(records: list[dict]) -> str:
    widths = {c: max([len(c)] + [len(r.get(c, "")) for r in records]) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS), "  ".join("-" * widths[c] for c in COLUMNS)]
    lines += ["  ".join(r.get(c, "").ljust(widths[c]) for c in COLUMNS) for r in records]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m template.lookup", description=__doc__.split("\n")[0])
    parser.add_argument("user_id")
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--project", default=os.environ.get("BIGTABLE_PROJECT", "local-project"))
    parser.add_argument("--instance", default=os.environ.get("BIGTABLE_INSTANCE", "local-instance"))
    parser.add_argument("--table", default=os.environ.get("BIGTABLE_TABLE", "transacoes"))
    parser.add_argument("--column-family", default=DEFAULT_COLUMN_FAMILY)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Connecting to Bigtable emulator")
    if "#" in args.user_id or not args.user_id:
        print("error: a user id is 1-64 characters without '#'", file=sys.stderr)
        return 2
    from google.cloud import bigtable

    table = bigtable.Client(project=args.project, admin=True).instance(args.instance).table(args.table)
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
