"""The dead-letter format: a message that is not written goes to the dead-letter topic, never nowhere.

The data is the original bytes, unchanged, so a fixed message can be replayed as it is; the
attributes are the original ones plus ``error_stage``, ``error_reason``, ``error_detail`` (at
most 1,000 characters) and ``failed_at``. Design notes: ``docs/dead-letters.md``.

One exception: a message already near Pub/Sub's 10 MB limit may not fit once the error
attributes are added, and a dead letter that can never be published would fail its bundle
forever and stall the subscription. Such a dead letter keeps the first bytes that fit, and
says so: ``error_data_truncated_from`` (the original length) and ``error_data_sha256``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from transactions import attributes, contract
from transactions.formats import rfc3339_ms

STAGES = ("parse", "validate", "write")
"""Where a message failed: it was not JSON (or not CSV), it broke a rule, or Bigtable refused it.
``transacoes-deadletters replay --stage`` offers exactly these."""

BAD_CSV_ROW = "bad_csv_row"
WRITE_REASON_PREFIX = "bigtable_"
REASONS = {
    **contract.REASONS,
    BAD_CSV_ROW: ("parse", "a backfill line is not a usable Kaggle CSV row (columns, number or date form)"),
    WRITE_REASON_PREFIX + "<status>": ("write", "Bigtable refused the row: not_found, invalid_argument, ..."),
}
"""Every reason code a dead letter can carry, with its stage (``docs/contract.md`` shows this table)."""

DETAIL_MAX_CHARS = 1000
ATTRIBUTE_VALUE_MAX_BYTES = 1024
"""Pub/Sub's limit on one attribute value."""
MAX_DEAD_LETTER_BYTES = 9 * 1024 * 1024
"""Data plus attributes of one dead letter: under Pub/Sub's 10 MB, with room for the request."""

_LOG = logging.getLogger(__name__)


class DeadLetter(NamedTuple):
    """One rejected message, ready to publish."""

    data: bytes
    attributes: dict[str, str]


def stage_and_reason(message_attributes: Mapping[str, str]) -> str:
    """``stage/reason`` of a dead letter: how the job's counters, the demo and the operator tool
    group them (``?`` for an attribute a foreign or broken message lacks)."""
    stage = message_attributes.get(attributes.ERROR_STAGE, "?")
    return f"{stage}/{message_attributes.get(attributes.ERROR_REASON, '?')}"


def without_dead_letter_attributes(message_attributes: Mapping[str, str] | None) -> dict[str, str]:
    """The attributes a message had before it became a dead letter: a new failure replaces the
    ``error_*`` ones and ``failed_at``, and a replay takes them off."""
    return {k: v for k, v in (message_attributes or {}).items() if k not in attributes.DEAD_LETTER_ATTRIBUTES}


def dead_letter(
    data: bytes,
    original_attributes: Mapping[str, str] | None,
    stage: str,
    reason: str,
    detail: str,
    failed_at: datetime | None = None,
) -> DeadLetter:
    """Build a dead letter; any ``error_*`` attributes of an earlier failure are replaced."""
    moment = failed_at or datetime.now(UTC)
    merged = without_dead_letter_attributes(original_attributes)
    merged[attributes.ERROR_STAGE] = stage
    merged[attributes.ERROR_REASON] = reason
    merged[attributes.ERROR_DETAIL] = _truncate_detail(detail)
    merged[attributes.FAILED_AT] = rfc3339_ms(moment)
    return _fit(bytes(data), merged)


def attributes_size(message_attributes: dict[str, str]) -> int:
    """Bytes of the attributes as Pub/Sub counts them (keys and values, UTF-8)."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in message_attributes.items())


def _fit(data: bytes, message_attributes: dict[str, str]) -> DeadLetter:
    """The dead letter as is, or with its data cut to fit Pub/Sub's limit (and marked so)."""
    if len(data) + attributes_size(message_attributes) <= MAX_DEAD_LETTER_BYTES:
        return DeadLetter(data, message_attributes)
    marked = {
        **message_attributes,
        attributes.DATA_TRUNCATED_FROM: str(len(data)),
        attributes.DATA_SHA256: hashlib.sha256(data).hexdigest(),
    }
    room = MAX_DEAD_LETTER_BYTES - attributes_size(marked)
    _LOG.warning("dead letter data cut from %d to %d bytes to fit Pub/Sub's message limit", len(data), room)
    return DeadLetter(data[:room], marked)


def _truncate_detail(detail: str) -> str:
    text = detail if len(detail) <= DETAIL_MAX_CHARS else detail[: DETAIL_MAX_CHARS - 3] + "..."
    encoded = text.encode()
    if len(encoded) > ATTRIBUTE_VALUE_MAX_BYTES:
        text = encoded[: ATTRIBUTE_VALUE_MAX_BYTES - 3].decode(errors="ignore") + "..."
    return text
