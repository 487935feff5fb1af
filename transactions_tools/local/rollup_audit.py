"""Are the rollups the totals of the rows? ``make chaos --read-faults`` asks after a busy run.

It reads the transaction table and sums each row's ``final_price`` (in cents, exactly) per
category-minute and per user-day, as the rollups define them (:mod:`transactions.rollup_layout`),
then reads the rollups table's totals as an app would (the newest cell of each ``agg`` column) and
lists every window where the two differ: a total missing, extra, or off by a count or a cent.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from transactions import layout, rollup_layout
from transactions_tools.provision import Resources
from transactions_wire import clients

__all__ = ["mismatched_windows"]


def _newest(row: Any, family: str) -> dict[bytes, bytes]:
    """qualifier -> the newest value, of a classic client's row (versions come newest first)."""
    cells = row.cells.get(family, {})
    return {qualifier: versions[0].value for qualifier, versions in cells.items()}


def mismatched_windows(resources: Resources) -> tuple[int, list[str]]:
    """(windows the rows make, one line per window whose rollup differs from the rows' totals)."""
    if not resources.rollups_table:
        raise ValueError("the resources have no rollups table")
    expected: dict[bytes, list[int]] = defaultdict(lambda: [0, 0])
    with clients.bigtable_admin(resources.bigtable_project or resources.project) as client:
        instance = client.instance(resources.instance)
        for row in instance.table(resources.table).read_rows():
            key = layout.parse_row_key(row.row_key)
            cells = _newest(row, resources.column_family)
            cents = rollup_layout.cents(cells[b"final_price"])
            for rollup, name in (
                (rollup_layout.CATEGORY_MINUTE, cells[b"category"].decode()),
                (rollup_layout.USER_DAY, key.user_id),
            ):
                start = rollup_layout.window_start_ms(rollup, key.event_time_ms)
                total = expected[rollup_layout.rollup_key(rollup, name, start)]
                total[0] += 1
                total[1] += cents
        found = {}
        for row in instance.table(resources.rollups_table).read_rows():
            cells = _newest(row, rollup_layout.FAMILY)
            money = next((value for qualifier, value in cells.items() if qualifier != rollup_layout.COUNT), b"0.00")
            found[row.row_key] = [int(cells.get(rollup_layout.COUNT, b"0")), rollup_layout.cents(money)]
    lines = [
        f"{key.decode(errors='replace')}: rows {want[0]} / {want[1]} cents, rollup {found.get(key)}"
        for key, want in sorted(expected.items())
        if found.get(key) != want
    ]
    lines += [f"{key.decode(errors='replace')}: a rollup with no rows" for key in sorted(set(found) - set(expected))]
    return len(expected), lines
