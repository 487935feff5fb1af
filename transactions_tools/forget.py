"""``transacoes-forget``: erase one user's personal data on request (LGPD art. 18, GDPR art. 17).

    transacoes-forget --user ID --project P --instance I
        [--table transacoes] [--rollups-table transacoes_rollups] [--forgotten-table transacoes_forgotten]
        [--dead-letter-subscription projects/P/subscriptions/transacoes-dead-letter-sub] [--max N]
        [--wait-for-jobs SECONDS]

First the user is recorded in the forgotten users' table (``transactions.forgotten``), stamped
with the time of this request: from then on a job drops the user's records of that time or
before, whether a rewind, a dead-letter replay or a backfill brings them. A running job reads
that table again every ``forgotten_refresh`` (60 s by default), so the command waits that long and
15 s more (``--wait-for-jobs``; 0 when no job runs) before it deletes: nothing a job writes after
the deletion can then be the user's old data. Then what goes, in this order:

- the user's transaction rows: one ``DropRowRange`` on the key prefix ``ID#`` (the row key starts
  with the user id, and ``#`` is never in one: ``transactions.layout``), so the whole prefix is
  dropped server-side in one call, however many rows;
- the user's per-day rollup rows (``user#ID#<YYYYMMDD>``): one ``DropRowRange`` on ``user#ID#``;
- the user's dead letters on the dead-letter subscription: a transaction whose JSON names the
  user, a backfill CSV line whose first field is the user, a user-day total's dead letter. They
  are acknowledged (deleted); every other dead letter is handed back at once, untouched, as
  ``transacoes-deadletters`` does.

The per-category-minute totals stay: they sum every user's purchases and name no one. The
``ids`` family of the user's own day rows goes with the rows; a category-minute's ``ids`` cells
list transaction ids (``producer``'s or ``csv-<file hash>:<offset>``), which identify nobody once
the rows they pointed to are gone (``docs/data-lifecycle.md``, "Forget a user").

It prints what it found and deleted, and running it again is harmless (nothing left: zeros; the
request's time moves to the new run's).
Exit codes: 0 done; 2 bad options or no credentials; 3 Pub/Sub or Bigtable unreachable or failing,
or the dead-letter subscription missing. The user id is checked against contract v1's rule and
only ever printed as a bounded, escaped excerpt.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from transactions import forgotten, layout, resource_names, rollup_layout
from transactions.cli_errors import (
    ArgumentParser,
    check_names,
    finite_number,
    pubsub_existence_problem,
    run_against_google,
)
from transactions.contract import USER_ID_RULE, is_valid_user_id
from transactions.excerpt import excerpt
from transactions.formats import epoch_ms_to_rfc3339
from transactions_tools import defaults
from transactions_tools.dead_letter_lease import Held
from transactions_tools.triage import subscriber_client
from transactions_wire import clients

__all__ = ["Forgotten", "forget", "main", "user_rollup_prefix"]

PROG = "transacoes-forget"
WAIT_FOR_JOBS_SECONDS = forgotten.DEFAULT_REFRESH_SECONDS + forgotten.SETTLE_SECONDS


class Unreachable(Exception):
    """The dead-letter subscription is missing or Pub/Sub cannot be reached (exit code 3)."""


@dataclass(frozen=True)
class Forgotten:
    """What one run found and deleted."""

    transaction_rows: int
    rollup_rows: int
    dead_letters: int
    dead_letters_kept: int
    looked_through_all: bool = True
    """False when ``--max`` dead letters were pulled: there may be more, run it again."""


def user_rollup_prefix(user_id: str) -> bytes:
    """``user#ID#``: the key prefix of every per-day rollup row of one user, and of no other."""
    sep = rollup_layout.SEPARATOR
    return f"{rollup_layout.USER_DAY.prefix}{sep}{user_id}{sep}".encode()


def forget(args: argparse.Namespace) -> Forgotten:
    """Record, wait, delete: the module's docstring."""
    user: str = args.user
    if args.dead_letter_subscription:  # checked first: a missing one stops the run before anything is deleted
        with ExitStack() as opened:
            _must_exist(subscriber_client(opened), args.dead_letter_subscription)
    with clients.bigtable_admin(args.bigtable_project or args.project) as client:
        instance = client.instance(args.instance)
        if args.forgotten_table:
            at_ms = record_request(instance.table(args.forgotten_table), user, int(time.time() * 1000))
            print(f"recorded in {args.forgotten_table}: forgotten at {epoch_ms_to_rfc3339(at_ms)}", flush=True)
            if args.wait_for_jobs:
                print(f"waiting {args.wait_for_jobs:g} s for running jobs to read it (--wait-for-jobs)", flush=True)
                time.sleep(args.wait_for_jobs)
        rows = _drop_prefix(instance.table(args.table), layout.user_prefix(user))
        rollups = (
            _drop_prefix(instance.table(args.rollups_table), user_rollup_prefix(user)) if args.rollups_table else 0
        )
    deleted = kept = 0
    if args.dead_letter_subscription:
        deleted, kept = _forget_dead_letters(args.dead_letter_subscription, user, args.max)
    return Forgotten(rows, rollups, deleted, kept, deleted + kept < args.max)


def record_request(table: Any, user_id: str, at_ms: int) -> int:
    """Write the user's entry in the forgotten users' table, stamped ``at_ms``; returns ``at_ms``."""
    from datetime import UTC, datetime

    row = table.direct_row(forgotten.row_key(user_id))
    stamp = datetime.fromtimestamp(at_ms / 1000, UTC)
    row.set_cell(forgotten.FAMILY, forgotten.COLUMN, forgotten.request_value(at_ms), timestamp=stamp)
    status = row.commit()  # python-bigtable returns a failed call as a status, not an exception
    if status.code:
        raise Unreachable(f"could not record the user in {table.table_id}: {status.message}")
    return at_ms


def _drop_prefix(table: Any, prefix: bytes) -> int:
    """Count the rows under ``prefix`` (keys only), then drop them all in one ``DropRowRange``."""
    from google.cloud.bigtable.row_filters import CellsRowLimitFilter, RowFilterChain, StripValueTransformerFilter
    from google.cloud.bigtable.row_set import RowSet

    row_set = RowSet()
    row_set.add_row_range_with_prefix(prefix.decode())
    keys_only = RowFilterChain([CellsRowLimitFilter(1), StripValueTransformerFilter(True)])
    found = sum(1 for _ in table.read_rows(row_set=row_set, filter_=keys_only))
    if found:
        table.drop_by_prefix(prefix)
    return found


def _forget_dead_letters(subscription: str, user_id: str, at_most: int) -> tuple[int, int]:
    """Acknowledge ``user_id``'s dead letters among up to ``at_most`` pulled; hand the rest back."""
    acknowledged: list[str] = []
    with ExitStack() as opened:
        held = Held(subscriber_client(opened), subscription)
        try:
            held.pull(at_most)
            mine = [m.ack_id for m in held.messages if _names(m.message, user_id)]
            held.acknowledge(mine)
            acknowledged = mine
        finally:
            done = set(acknowledged)
            held.hand_back([m.ack_id for m in held.messages if m.ack_id not in done])
    return len(acknowledged), len(held.messages) - len(acknowledged)


def _names(message: Any, user_id: str) -> bool:
    return forgotten.named_user(message.data, message.attributes) == user_id


def _must_exist(subscriber: Any, subscription: str) -> None:
    problem = pubsub_existence_problem(
        f"subscription {subscription}",
        lambda: subscriber.get_subscription(subscription=subscription, timeout=10, retry=None),
    )
    if problem:
        raise Unreachable(problem)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--user", required=True, help=f"the user id ({USER_ID_RULE})")
    parser.add_argument("--project", required=True, help="project of the Pub/Sub resources (and of Bigtable)")
    parser.add_argument("--instance", required=True, help="Bigtable instance id")
    parser.add_argument("--bigtable-project", help="project of the Bigtable instance (default: --project)")
    parser.add_argument("--table", default=defaults.TABLE, help=f"default {defaults.TABLE}")
    parser.add_argument(
        "--rollups-table", default=defaults.ROLLUPS_TABLE, help=f"default {defaults.ROLLUPS_TABLE}; '' for none"
    )
    parser.add_argument(
        "--forgotten-table",
        default=defaults.FORGOTTEN_TABLE,
        help=f"where the request is recorded, for the jobs to read (default {defaults.FORGOTTEN_TABLE}); "
        "'' records nothing, and a rewind, replay or backfill would bring the user's data back",
    )
    parser.add_argument(
        "--wait-for-jobs",
        type=finite_number(0, 3_600),
        default=WAIT_FOR_JOBS_SECONDS,
        help=f"seconds to wait after recording, before deleting: the jobs' forgotten_refresh and "
        f"{forgotten.SETTLE_SECONDS} s more (default {WAIT_FOR_JOBS_SECONDS}; 0 when no job runs)",
    )
    parser.add_argument(
        "--dead-letter-subscription",
        help="projects/<project>/subscriptions/<dead-letter sub> (default: the project's "
        f"{defaults.DEAD_LETTER_SUBSCRIPTION}); '' to leave the dead letters",
    )
    parser.add_argument(
        "--max",
        type=finite_number(1, 1_000_000, int),
        default=100_000,
        help="dead letters to look through at most (default 100000)",
    )
    return parser


NAMED_OPTIONS = (
    ("project", "project"),
    ("bigtable_project", "project"),
    ("instance", "bigtable_instance"),
    ("table", "bigtable_table"),
    ("rollups_table", "bigtable_table"),
    ("forgotten_table", "bigtable_table"),
    ("dead_letter_subscription", "subscription"),
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not is_valid_user_id(args.user):
        parser.error(f"--user: {excerpt(args.user)} is not a user id ({USER_ID_RULE})")
    if args.dead_letter_subscription is None:
        args.dead_letter_subscription = resource_names.subscription_path(
            args.project, defaults.DEAD_LETTER_SUBSCRIPTION
        )
    check_names(
        parser, args, NAMED_OPTIONS, may_be_empty=("rollups_table", "forgotten_table", "dead_letter_subscription")
    )

    def run() -> int:
        done = forget(args)
        who = excerpt(args.user)
        print(f"forgot user {who}")
        print(f"  transaction rows deleted  {done.transaction_rows:>8}")
        print(f"  user-day rollups deleted  {done.rollup_rows:>8}")
        print(f"  dead letters deleted      {done.dead_letters:>8}  ({done.dead_letters_kept} of others kept)")
        if not done.looked_through_all:
            print(f"  (looked through --max {args.max} dead letters; run again for more)")
        return 0

    try:
        return run_against_google(run, "forgetting", 3)
    except Unreachable as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
