"""The baselines: what a careful engineer writes first with the standard libraries.

Each does the same job as ours, with the same rules and the same output (the benchmarks check
that), so the ratios measure the implementation, not a difference in work.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from google.cloud.bigtable.row import DirectRow
from google.cloud.bigtable_v2.types import bigtable as bigtable_types

from transactions.contract import MAX_MESSAGE_BYTES, REQUIRED_FIELDS
from transactions.formats import MAX_EVENT_MS
from transactions_pipeline.rows import BigtableRow

MutateRowsRequestPb = bigtable_types.MutateRowsRequest.pb()

_TRANSACTION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_USER_ID = re.compile(r"[^#\x00-\x1f\x7f-\x9f]{1,64}")
_CENT = Decimal("0.01")


class Invalid(ValueError):
    """A message that breaks contract v1 (the baseline does not need stable reason codes)."""


def to_direct_row(row: BigtableRow, family: str) -> DirectRow:
    """Our row as the ``DirectRow`` that Beam's ``WriteToBigTable`` takes."""
    direct = DirectRow(row.row_key)
    timestamp = datetime.fromtimestamp(row.timestamp_micros / 1_000_000, UTC)
    for qualifier, value in row.cells:
        direct.set_cell(family, qualifier, value, timestamp=timestamp)
    return direct


def json_to_direct_row(data: bytes, family: str) -> DirectRow:
    """Parse, validate, key and mutations with ``json``, ``Decimal``, ``datetime`` and ``DirectRow``."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise Invalid("too large")
    try:
        record = json.loads(data)
    except ValueError as error:
        raise Invalid(f"invalid json: {error}") from None
    if not isinstance(record, dict):
        raise Invalid("not an object")
    for name in REQUIRED_FIELDS:
        if record.get(name) is None:
            raise Invalid(f"missing {name}")
    transaction_id, user_id = record["transaction_id"], record["user_id"]
    if not isinstance(transaction_id, str) or not _TRANSACTION_ID.fullmatch(transaction_id):
        raise Invalid("bad transaction_id")
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise Invalid("bad user_id")
    for name in ("product_id", "category", "payment_method"):
        if not isinstance(record[name], str) or not record[name].strip():
            raise Invalid(f"bad {name}")
    price = _money(record["price"])
    final_price = _money(record["final_price"])
    discount = record["discount_pct"]
    if isinstance(discount, bool) or not isinstance(discount, int | float) or not 0 <= discount <= 100:
        raise Invalid("bad discount")
    expected = price * (100 - Decimal(repr(discount))) / 100
    if abs(final_price - expected) > _CENT:
        raise Invalid("final_price mismatch")
    try:
        purchase_date = date.fromisoformat(record["purchase_date"])
        event_time = datetime.strptime(record["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise Invalid("bad date or time") from None
    event_ms = int(event_time.timestamp() * 1000)
    if not 0 <= event_ms <= MAX_EVENT_MS:
        raise Invalid("event_time out of range")
    row = DirectRow(f"{user_id}#{MAX_EVENT_MS - event_ms:013d}#{transaction_id}".encode())
    discount_text = str(int(discount)) if float(discount).is_integer() else repr(discount)
    for qualifier, value in (
        ("product_id", record["product_id"]),
        ("category", record["category"]),
        ("price", f"{price:.2f}"),
        ("discount", discount_text),
        ("final_price", f"{final_price:.2f}"),
        ("payment", record["payment_method"]),
        ("purchase_date", purchase_date.isoformat()),
    ):
        row.set_cell(family, qualifier, value.encode(), timestamp=event_time)
    return row


def _money(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid("bad money")
    try:
        amount = Decimal(value if isinstance(value, str) else repr(value)).quantize(_CENT, ROUND_HALF_UP)
    except InvalidOperation:
        raise Invalid("bad money") from None
    if not amount.is_finite() or amount < 0:
        raise Invalid("bad money")
    return amount


def cells_of_direct_row(row: DirectRow) -> tuple:
    """``(key, ((family, qualifier, value, micros), ...))`` of a DirectRow's mutations."""
    cells = tuple((m.family, m.qualifier, m.new_value, m.timestamp_micros) for m in row._get_mutations())
    return row.row_key, cells


def cells_of_entry(encoded: bytes) -> tuple:
    """The same view of one of our encoded ``MutateRowsRequest.Entry``."""
    entry = MutateRowsRequestPb.Entry.FromString(encoded)
    cells = tuple(
        (m.set_cell.family_name, m.set_cell.column_qualifier, m.set_cell.value, m.set_cell.timestamp_micros)
        for m in entry.mutations
    )
    return entry.row_key, cells
