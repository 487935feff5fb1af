"""``transacoes-forget`` on the emulators: users A and B each have transactions, per-day rollups
and dead letters (written by a backfill: the job's own path, in seconds); forgetting A deletes
A's rows, A's user-day rows and A's dead letters, and leaves every one of B's, and every
category-minute total, exactly as it was. Forgetting A again finds nothing and deletes nothing.
(The same user's records coming back to a running job: ``test_forgotten_emulator.py``.)"""

import pytest

from tests.integration.harness import (
    INSTANCE,
    PROJECT,
    provision_for_test,
    pull_dead_letters,
    read_rows,
    wait_for,
)
from transactions import rollup_layout
from transactions_tools import forget
from transactions_tools.dead_letter_lease import Held
from transactions_tools.triage import subscriber_client

pytestmark = pytest.mark.integration

USERS = ("ana", "bo")
PER_USER = 10


def dead_letters_waiting(subscription: str) -> int:
    """How many dead letters the subscription holds, handed back at once (nothing consumed)."""
    from contextlib import ExitStack

    with ExitStack() as opened:
        held = Held(subscriber_client(opened), subscription)
        try:
            held.pull(100)
        finally:
            held.hand_back([m.ack_id for m in held.messages])
    return len(held.messages)


def user_days(resources, user: str) -> dict:
    rows = read_rows(resources, resources.rollups_table, rollup_layout.FAMILY)
    return {k: v for k, v in rows.items() if k.startswith(forget.user_rollup_prefix(user)) and v}


def test_forgetting_a_user_deletes_their_rows_rollups_and_dead_letters_and_nobody_elses(
    emulators, unique, capsys, tmp_path
):
    from datetime import UTC, datetime, timedelta

    from tests.integration.test_backfill_emulator import HEADER, backfill_args
    from transactions_pipeline.launch import main

    resources = provision_for_test(unique, forgotten_table=f"forgotten-{unique}")
    dead_letter_subscription = resources.subscription_path(resources.dead_letter_subscription)
    days = [(datetime.now(UTC) - timedelta(days=d)).strftime("%d-%m-%Y") for d in (1, 2)]
    good = [f"{USERS[i % 2]},P{i},Books,100,0,100,UPI,{days[i % 4 // 2]}" for i in range(2 * PER_USER)]
    bad = [f"{USERS[i % 2]},P{100 + i},Books,100,10,50,UPI,{days[0]}" for i in range(4)]  # final price wrong
    path = tmp_path / "sales.csv"
    path.write_text("\n".join([HEADER, *good, *bad]) + "\n")
    extra = [f"--rollups_table={resources.rollups_table}", f"--forgotten_table={resources.forgotten_table}"]
    assert main([*backfill_args(resources, str(path)), *extra]) == 0  # rows, user-day rollups, dead letters
    assert len(read_rows(resources)) == 2 * PER_USER
    for user in USERS:
        assert len(user_days(resources, user)) == 2
    wait_for("4 dead letters", lambda: dead_letters_waiting(dead_letter_subscription) == 4)

    before = read_rows(resources)
    rollups_before = read_rows(resources, resources.rollups_table, rollup_layout.FAMILY)
    ids_before = read_rows(resources, resources.rollups_table, rollup_layout.IDS_FAMILY)
    ana_days = len(user_days(resources, "ana"))
    argv = ["--user", "ana", "--project", PROJECT, "--instance", INSTANCE, "--table", resources.table,
            "--rollups-table", resources.rollups_table, "--dead-letter-subscription", dead_letter_subscription,
            "--forgotten-table", resources.forgotten_table, "--wait-for-jobs", "0"]  # fmt: skip
    assert forget.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "forgot user 'ana'",
        f"  transaction rows deleted  {PER_USER:>8}",
        f"  user-day rollups deleted  {ana_days:>8}",
        "  dead letters deleted             2  (2 of others kept)",
    ]

    after = read_rows(resources)
    assert {k: v for k, v in before.items() if not k.startswith(b"ana#")} == after
    assert len(after) == PER_USER and all(k.startswith(b"bo#") for k in after)
    for family, rows_before in ((rollup_layout.FAMILY, rollups_before), (rollup_layout.IDS_FAMILY, ids_before)):
        assert read_rows(resources, resources.rollups_table, family) == {
            k: v for k, v in rows_before.items() if not k.startswith(b"user#ana#")
        }, "every category-minute and every one of bo's rows as it was"
    left = pull_dead_letters(resources, 4, timeout=10)
    assert sorted(m.data for m in left) == sorted(line.encode() for line in bad if line.startswith("bo,"))

    assert forget.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "forgot user 'ana'",
        f"  transaction rows deleted  {0:>8}",
        f"  user-day rollups deleted  {0:>8}",
        "  dead letters deleted             0  (0 of others kept)",
    ]
