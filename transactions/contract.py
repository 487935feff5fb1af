"""Message contract v1: turn the bytes of one Pub/Sub message into a validated transaction.

Everything a message can get wrong is reported as an :class:`InvalidMessage` carrying a stage
(``parse`` or ``validate``) and a short, stable reason code, because the dead-letter topic's
consumers filter and alert on those codes. ``FIELDS`` and ``REASONS`` are the contract as a
table; ``docs/contract.md`` shows the same tables and a test keeps the two equal. The valid
path avoids ``Decimal`` and regexes where a cheaper exact check exists: this function runs once
per message on every worker.
"""

from __future__ import annotations

import math
import operator
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import NamedTuple, NoReturn

import orjson

from transactions.excerpt import excerpt
from transactions.formats import MAX_EVENT_MS, format_cents, format_discount, rfc3339_ms_to_epoch_ms

MAX_MESSAGE_BYTES = 1024 * 1024
"""Messages above 1 MiB are rejected before parsing (``too_large``)."""

FIELDS = (  # name, JSON type, rule
    ("transaction_id", "string", "1-64 characters of [A-Za-z0-9._:-]; unique per transaction"),
    ("user_id", "string", "1-64 characters, no '#', no control characters; kept exactly as sent"),
    ("product_id", "string", "not empty or blank"),
    ("category", "string", "not empty or blank"),
    ("price", "decimal string or number", ">= 0, finite; rounded half up to 2 decimals"),
    ("discount_pct", "number", "0 <= d <= 100"),
    ("final_price", "decimal string or number", ">= 0 and price x (1 - d/100) within 0.01"),
    ("payment_method", "string", "not empty or blank"),
    ("purchase_date", "string", "ISO date YYYY-MM-DD"),
    ("event_time", "string", "RFC 3339 UTC with milliseconds (2025-12-05T21:13:52.076Z), 1970-2286"),
)
"""Every field of contract v1; all are required."""

REQUIRED_FIELDS = tuple(name for name, _, _ in FIELDS)

REASONS = {  # reason code -> (stage, when)
    "too_large": ("parse", "the message is over 1 MiB (checked before parsing)"),
    "invalid_json": ("parse", "not UTF-8 JSON, or not a JSON object"),
    "missing_field": ("validate", "a field is absent or null (the detail names all of them)"),
    "bad_transaction_id": ("validate", "transaction_id breaks its rule"),
    "bad_user_id": ("validate", "user_id breaks its rule, or is not a string"),
    "bad_product_id": ("validate", "product_id is empty, blank or not a string"),
    "bad_category": ("validate", "category is empty, blank or not a string"),
    "bad_payment_method": ("validate", "payment_method is empty, blank or not a string"),
    "bad_price": ("validate", "price is negative, not finite or not a decimal"),
    "bad_discount": ("validate", "discount_pct is not a number from 0 to 100"),
    "bad_final_price": ("validate", "final_price is negative, not finite or not a decimal"),
    "final_price_mismatch": ("validate", "final_price is not price less the discount, within 0.01"),
    "bad_purchase_date": ("validate", "purchase_date is not an ISO date"),
    "bad_event_time": ("validate", "event_time is not RFC 3339 UTC with milliseconds, or out of range"),
}
"""Every reason this module gives, with its stage. The pipeline adds ``parse``/``bad_csv_row``
for a backfill line and ``write``/``bigtable_<status>`` for a row Bigtable refused."""

USER_ID_RULE = "1-64 characters without '#' or control characters"
"""The rule of ``user_id`` (:func:`is_valid_user_id`), as error messages print it."""

_TRANSACTION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_FORBIDDEN_IN_USER_ID = re.compile(r"[#\x00-\x1f\x7f-\x9f]")
_MONEY_TEXT = re.compile(r"(-?)(\d{1,15})(?:\.(\d{1,30}))?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FINAL_PRICE_TOLERANCE_CENTS = 1.0 + 1e-6
_ALL_FIELDS = operator.itemgetter(*REQUIRED_FIELDS)


class InvalidMessage(ValueError):
    """A message that breaks the contract; ``reason`` is the stable code for dead letters."""

    def __init__(self, stage: str, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.stage = stage
        self.reason = reason
        self.detail = detail


class Transaction(NamedTuple):
    """A validated transaction, with money already formatted as it is stored (``332.00``)."""

    transaction_id: str
    user_id: str
    product_id: str
    category: str
    price: str
    discount: str
    final_price: str
    payment_method: str
    purchase_date: str
    event_time_ms: int
    final_price_cents: int
    """``final_price`` in whole cents, for sums (the rollups add it up exactly)."""


def parse_transaction(data: bytes) -> Transaction:
    """Parse and validate one message body; raise :class:`InvalidMessage` if it breaks v1."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise InvalidMessage("parse", "too_large", f"message is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidMessage("parse", "invalid_json", f"not UTF-8 JSON: {error}") from None
    if type(record) is not dict:
        raise InvalidMessage("parse", "invalid_json", f"expected a JSON object, got {type(record).__name__}")
    return validate_record(record)


def validate_record(record: dict) -> Transaction:
    """Check every rule of contract v1 on a decoded JSON object."""
    try:
        values = _ALL_FIELDS(record)
    except KeyError:
        values = (None,)
    if None in values:
        missing = [name for name in REQUIRED_FIELDS if record.get(name) is None]
        raise InvalidMessage("validate", "missing_field", "missing: " + ", ".join(missing))
    (
        transaction_id,
        user_id,
        product_id,
        category,
        price,
        discount_value,
        final_price,
        payment_method,
        purchase_date,
        event_time,
    ) = values

    if type(transaction_id) is not str or not _TRANSACTION_ID.fullmatch(transaction_id):
        _reject("bad_transaction_id", "1-64 characters of [A-Za-z0-9._:-]", transaction_id)

    if not is_valid_user_id(user_id):
        _reject("bad_user_id", f"a string of {USER_ID_RULE}", user_id)

    if type(product_id) is not str or not product_id.strip():
        _reject("bad_product_id", "product_id as a non-empty string", product_id)
    if type(category) is not str or not category.strip():
        _reject("bad_category", "category as a non-empty string", category)
    if type(payment_method) is not str or not payment_method.strip():
        _reject("bad_payment_method", "payment_method as a non-empty string", payment_method)

    price_cents = _cents(price, "bad_price", "price")
    if type(discount_value) not in (int, float) or not math.isfinite(discount_value) or not 0 <= discount_value <= 100:
        _reject("bad_discount", "a JSON number from 0 to 100", discount_value)
    final_cents = _cents(final_price, "bad_final_price", "final_price")
    expected_final = price_cents * (100 - discount_value) / 100
    if abs(final_cents - expected_final) > _FINAL_PRICE_TOLERANCE_CENTS:
        raise InvalidMessage(
            "validate",
            "final_price_mismatch",
            f"final_price {format_cents(final_cents)} is not price {format_cents(price_cents)}"
            f" less {discount_value}% (expected {expected_final / 100:.2f}, tolerance 0.01)",
        )

    if type(purchase_date) is not str or not _is_iso_date(purchase_date):
        _reject("bad_purchase_date", "an ISO date YYYY-MM-DD", purchase_date)

    event_time_ms = _event_time_ms(event_time) if type(event_time) is str else None
    if event_time_ms is None:
        _reject(
            "bad_event_time",
            "RFC 3339 UTC with milliseconds, like 2025-12-05T21:13:52.076Z, from 1970 to 2286",
            event_time,
        )

    return Transaction(
        transaction_id,
        user_id,
        product_id,
        category,
        format_cents(price_cents),
        format_discount(discount_value),
        format_cents(final_cents),
        payment_method,
        purchase_date,
        event_time_ms,
        final_cents,
    )


def is_valid_user_id(user_id: object) -> bool:
    """Whether ``user_id`` keeps contract v1's rule for it (:data:`USER_ID_RULE`): anything that
    reads or writes a user id (the pipeline, the lookup tool) checks it here."""
    return type(user_id) is str and 0 < len(user_id) <= 64 and _FORBIDDEN_IN_USER_ID.search(user_id) is None


def _cents(value: object, reason: str, field: str) -> int:
    """Money (decimal string or JSON number) as whole cents, rounded half up to 2 decimals."""
    if type(value) is str and value.isascii():  # the common forms, "332" and "244.8", without the regex
        whole, dot, fraction = value.partition(".")
        if whole.isdigit() and len(whole) <= 15 and (not dot or (fraction.isdigit() and len(fraction) <= 2)):
            return int(whole) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0)
    if type(value) is int:
        cents = value * 100
    elif type(value) is str:
        match = _MONEY_TEXT.fullmatch(value)
        if match is None:
            _reject(reason, f"{field} as a decimal string or JSON number", value)
        sign, whole, fraction = match.groups()
        if fraction is None or len(fraction) <= 2:
            cents = int(whole) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0)
            if sign:
                cents = -cents
        else:
            cents = _round_to_cents(Decimal(value))
    elif type(value) is float:
        if not math.isfinite(value):
            _reject(reason, f"{field} as a finite number", value)
        cents = _round_to_cents(Decimal(repr(value)))
    else:
        _reject(reason, f"{field} as a decimal string or JSON number", value)
    if cents < 0:
        _reject(reason, f"{field} >= 0", value)
    return cents


def _round_to_cents(amount: Decimal) -> int:
    try:
        return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:  # pragma: no cover - inputs are already finite and bounded
        raise InvalidMessage("validate", "bad_price", f"cannot round {amount}") from None


@lru_cache(maxsize=8192)
def _is_iso_date(text: str) -> bool:
    if not _ISO_DATE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _event_time_ms(text: str) -> int | None:
    epoch_ms = rfc3339_ms_to_epoch_ms(text)
    return epoch_ms if epoch_ms is not None and 0 <= epoch_ms <= MAX_EVENT_MS else None


def _reject(reason: str, expected: str, value: object) -> NoReturn:
    shown = excerpt(value) if isinstance(value, str) else excerpt(repr(value))
    raise InvalidMessage("validate", reason, f"expected {expected}, got {shown}")
