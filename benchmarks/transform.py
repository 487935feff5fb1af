"""Transform benchmark: message bytes -> validated row -> Bigtable mutations, on one core.

Ours: :func:`template.contract.parse_transaction` (orjson, integer cents), the row key and cells
(:func:`template.bigtable_row.to_row`) and the encoded entry (:mod:`template.mutations`).
Baseline: :func:`benchmarks.baselines.json_to_direct_row` (``json``, ``Decimal``,
``datetime.strptime``, ``DirectRow.set_cell``), the same rules and the same cells (checked on
every message before timing).
"""

from __future__ import annotations

from benchmarks import workloads
from benchmarks.baselines import cells_of_direct_row, cells_of_entry, json_to_direct_row
from benchmarks.measure import Contender, Result, alternate, faster
from template.bigtable_row import to_row
from template.contract import parse_transaction
from template.mutations import encode_entry

FAMILY = "dados"


def ours(message) -> bytes:
    return encode_entry(to_row(parse_transaction(message.data), message), FAMILY)


def run(count: int, rounds: int, log=print) -> list[Result]:
    log(f"transform: {count:,} messages, parse + validate + row key + mutations, one core, {rounds} rounds")
    messages = workloads.messages(count)
    for message in messages:
        if cells_of_direct_row(json_to_direct_row(message.data, FAMILY)) != cells_of_entry(ours(message)):
            raise AssertionError(f"baseline and ours disagree on {message.data!r}")
    log(f"  same key and cells from both for all {count:,} messages")

    def baseline_work() -> int:
        for message in messages:
            json_to_direct_row(message.data, FAMILY)
        return len(messages)

    def ours_work() -> int:
        for message in messages:
            ours(message)
        return len(messages)

    medians = alternate({"json + DirectRow": Contender(baseline_work), "ours": Contender(ours_work)}, rounds, log)
    return [Result("transform (per core)", "json + Decimal + DirectRow", "ours", medians["json + DirectRow"],
                   medians["ours"], goal=faster(2))]  # fmt: skip
