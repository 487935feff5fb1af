"""Who asked to be forgotten, and when: the list that keeps a forgotten user forgotten.

``transacoes-forget`` records the user here before it deletes anything; the job reads the list
(``transactions_pipeline.forgotten_list``) and drops the user's old records wherever they come
from again: a rewind, a dead-letter replay, a backfill file (``docs/data-lifecycle.md``, "Forget a
user").

The table (``transacoes_forgotten``) holds one row per user, keyed by the user id, with one cell
``forgotten:at`` stamped with the time of the request and holding it as RFC 3339 text (what
``cbt read`` shows a person). A second request for the same user writes a newer cell, and the
family keeps one version: the latest request counts.

The rule (:meth:`ForgottenUsers.forgets`): a transaction of a forgotten user whose **event time is
at or before the request** is data the user asked to erase, so the job neither writes it nor
dead-letters it with its data. A purchase made after the request is new data and is written as
any other. A record that breaks the contract but names a forgotten user (:func:`named_user`) is
dropped all the same: its time cannot be trusted, and a dead letter would carry the user's data.

How long an entry is kept (``transactions.retention``): as long as the transactions themselves.
Cells carry event time, so a transaction of event time E at or before a request R is collected at
E + 5 years, no later than R + 5 years: past that, nothing the entry guards could be kept anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from transactions import attributes, rollup_layout
from transactions.formats import MAX_EVENT_MS, epoch_ms_to_rfc3339, rfc3339_ms_to_epoch_ms

DEFAULT_TABLE = "transacoes_forgotten"
FAMILY = "forgotten"
"""The family of the list's one cell (garbage collection: ``transactions.retention.FORGOTTEN``)."""
COLUMN = b"at"
DEFAULT_REFRESH_SECONDS = 60
"""How often a job reads the list again by default (``forgotten_refresh``). ``transacoes-forget``
waits that long, and :data:`SETTLE_SECONDS` more, before it deletes anything: by then every
running job has read the new entry, and nothing it writes after the deletion is the user's."""
SETTLE_SECONDS = 15
"""What ``transacoes-forget`` waits beyond the refresh: one list read, and the writes of bundles
that checked their records just before it."""


def row_key(user_id: str) -> bytes:
    """The list's row of one user: the user id itself (no prefix: the table holds nothing else)."""
    return user_id.encode()


def request_value(requested_at_ms: int) -> bytes:
    """The cell's value: the request time as RFC 3339 text with milliseconds."""
    return epoch_ms_to_rfc3339(requested_at_ms).encode()


class ForgottenUsers:
    """The forgotten users as read at one moment: user id -> time of the (latest) request, epoch ms."""

    def __init__(self, requested_at_ms: Mapping[str, int]) -> None:
        self._requested_at_ms = dict(requested_at_ms)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[bytes, bytes]]) -> ForgottenUsers:
        """From the table's rows as (row key, the ``at`` cell's value). Fails closed: an entry whose
        time cannot be read (one written by hand, say) forgets every record of that user, whatever
        its time; a key that is not UTF-8 is no user id, and is left out."""
        requested = {}
        for key, value in rows:
            try:
                user_id = key.decode()
            except UnicodeDecodeError:
                continue
            try:
                at_ms = rfc3339_ms_to_epoch_ms(value.decode())
            except UnicodeDecodeError:
                at_ms = None
            requested[user_id] = MAX_EVENT_MS if at_ms is None else at_ms
        return cls(requested)

    def __len__(self) -> int:
        return len(self._requested_at_ms)

    def forgets(self, user_id: str, event_ms: int) -> bool:
        """Whether a transaction of ``user_id`` at ``event_ms`` is data its user asked to erase."""
        at_ms = self._requested_at_ms.get(user_id)
        return at_ms is not None and event_ms <= at_ms

    def names(self, user_id: str | None) -> bool:
        """Whether ``user_id`` asked to be forgotten (at any time)."""
        return user_id is not None and user_id in self._requested_at_ms


def named_user(data: bytes, message_attributes: Mapping[str, str]) -> str | None:
    """The user a record names, read as leniently as a broken record allows: a transaction's JSON
    ``user_id``, a backfill line's first CSV field, a user-day total's key (a rollup's dead
    letter). None when it names no user we can tell (not JSON, no such field, a category total)."""
    if message_attributes.get(attributes.ROLLUP) is not None:
        try:
            rollup = rollup_layout.parse_rollup_key(orjson.loads(data).get("key", "").encode())
            return rollup.name if rollup.rollup is rollup_layout.USER_DAY else None
        except (orjson.JSONDecodeError, AttributeError, UnicodeError, ValueError):
            return None
    if message_attributes.get(attributes.SOURCE_FILE) is not None:
        first = data.split(b",", 1)[0].strip().strip(b'"')
        try:
            return first.decode() or None
        except UnicodeDecodeError:
            return None
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    user_id = record.get("user_id") if isinstance(record, dict) else None
    return user_id if isinstance(user_id, str) else None
