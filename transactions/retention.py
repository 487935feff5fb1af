"""How long each kind of data is kept: one table of garbage-collection rules, and the input
subscription's retention of acknowledged messages.

Why here, in the contract package: ``transacoes-provision`` creates the families with these
rules, the Pulumi program (which imports none of our packages) declares the same numbers, the
gcloud runbook sets them with ``cbt setgcpolicy``, and the backfill launch check reads them;
``tests/unit/deploy/test_infra.py`` and ``tests/unit/transactions/test_retention.py`` keep all of
them equal to this table. ``docs/bigtable-layout.md`` ("Retention") gives the reasons.

Every cell is stamped with its event time (``docs/bigtable-layout.md``), so Bigtable's max age is
the *event's* age: a transaction of 2019 loaded today by a backfill is as old as 2019.

- ``dados`` (transactions): five years and one version (a union: a cell goes when either says so).
- ``agg`` (rollup totals): three years, one version: aggregates outlive no purpose of the rows.
- ``forgotten`` (who asked to be forgotten, ``transactions.forgotten``): as long as ``dados``.
- ``ids`` (each writer's counted transaction ids): the shortest, the longest allowed lateness of a
  live rollup plus the longest backfill overlap we support (``BACKFILL_OVERLAP_DAYS``). Past it a
  backfill over those days is no longer deduplicated against the stream's counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from transactions import forgotten, layout, rollup_layout

SECONDS_PER_DAY = 86_400

MAX_ROLLUP_LATENESS_SECONDS = 3_600
"""The default ``rollup_allowed_lateness``: a window still takes late events for this long."""
BACKFILL_OVERLAP_DAYS = 31
"""How far back (days before today, in event time) a backfill may reach and still have its rollups
deduplicated against what the stream counted for the same windows."""


class GcRule(NamedTuple):
    """One family's garbage collection: a cell goes when it is older than ``max_age_days`` (event
    time) *or* is not among the newest ``max_versions`` (a union of the two rules)."""

    max_versions: int
    max_age_days: int

    @property
    def max_age_seconds(self) -> int:
        return self.max_age_days * SECONDS_PER_DAY

    def cbt(self) -> str:
        """The rule as ``cbt setgcpolicy`` takes it."""
        return f"maxage={self.max_age_days}d or maxversions={self.max_versions}"


DADOS = GcRule(max_versions=1, max_age_days=5 * 365 + 2)
"""Five years (with their leap days): how long a purchase record is kept for the customer and the
tax authority (Brazil's CTN, art. 173, counts five years)."""
AGG = GcRule(max_versions=1, max_age_days=3 * 365 + 1)
"""Three years: the window totals feed year-over-year dashboards; older years are in the reports."""
IDS = GcRule(
    max_versions=1,
    max_age_days=BACKFILL_OVERLAP_DAYS + math.ceil(MAX_ROLLUP_LATENESS_SECONDS / SECONDS_PER_DAY),
)
"""32 days: the allowed lateness (rounded up to a day) plus the backfill overlap."""

FORGOTTEN = DADOS
"""The forgotten list's entries (``transactions.forgotten``), stamped with the request: kept as long
as the transactions, since nothing of event time before a request outlives it by more."""

GC_RULES: dict[str, GcRule] = {
    layout.FAMILY: DADOS,
    rollup_layout.FAMILY: AGG,
    rollup_layout.IDS_FAMILY: IDS,
    forgotten.FAMILY: FORGOTTEN,
}
"""Family -> its rule: the one table every declaration of the tables follows."""

SUBSCRIPTION_RETENTION_DAYS = 7
"""The input subscription keeps acknowledged messages this long, so the job can be rewound
(``transacoes-rewind``); Pub/Sub's maximum for a subscription, and its cost is storage of a week
of messages (``docs/data-lifecycle.md``, "Rewind")."""
SUBSCRIPTION_RETENTION_SECONDS = SUBSCRIPTION_RETENTION_DAYS * SECONDS_PER_DAY


def oldest_kept_ms(family: str, now_ms: int) -> int:
    """The event time (epoch ms) before which ``family``'s cells are garbage now."""
    return now_ms - GC_RULES[family].max_age_seconds * 1000


def _day(event_ms: int) -> str:
    return datetime.fromtimestamp(event_ms / 1000, UTC).strftime("%Y-%m-%d")


def backfill_notices(purchase_dates: Iterable[str], now_ms: int, rollups: bool) -> tuple[str | None, list[str]]:
    """What a backfill launch says of the purchase dates it read (ISO dates, each an event at
    00:00 UTC): a refusal when every one is past the transactions' max age (its rows would be
    collected at once, so nothing would be loaded), and one warning line each when some are past
    it, or, with rollups, past the counted ids' max age (those days' rollups are no longer
    deduplicated against the stream). ``(None, [])`` when there is nothing to say."""
    events = sorted(
        int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000) for day in set(purchase_dates)
    )
    if not events:
        return None, []
    rows_from = oldest_kept_ms(layout.FAMILY, now_ms)
    ids_from = oldest_kept_ms(rollup_layout.IDS_FAMILY, now_ms)
    span = f"{_day(events[0])} to {_day(events[-1])}"
    if events[-1] < rows_from:
        return (
            f"every purchase date read ({span}) is older than the transactions' retention "
            f"({DADOS.max_age_days} days, since {_day(rows_from)}): its rows would be garbage-collected at once",
            [],
        )
    warnings = []
    if events[0] < rows_from:
        warnings.append(
            f"purchase dates from {_day(events[0])} are older than the transactions' retention "
            f"({DADOS.max_age_days} days, since {_day(rows_from)}): those rows are garbage-collected at once"
        )
    if rollups and events[0] < ids_from:
        warnings.append(
            f"purchase dates from {_day(events[0])} are older than the rollups' counted ids "
            f"({IDS.max_age_days} days, since {_day(ids_from)}): the rollups of those days are not "
            "deduplicated against what the stream counted"
        )
    return None, warnings
