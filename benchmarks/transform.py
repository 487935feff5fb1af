"""Transform benchmark: message bytes -> validated row -> Bigtable mutations, on one core.

Ours: :func:`transactions.contract.parse_transaction` (orjson, integer cents), the row key and cells
(:func:`transactions_pipeline.rows.to_row`) and the encoded entry (:mod:`transactions_wire.bigtable`).
Baseline: :func:`benchmarks.baselines.json_to_direct_row` (``json``, ``Decimal``,
``datetime.strptime``, ``DirectRow.set_cell``), the same rules and the same cells (checked on
every message before timing; both must also refuse each kind of broken message the producer
makes).
"""

from __future__ import annotations

from google.cloud.bigtable.row import DirectRow

from benchmarks import workloads
from benchmarks.baselines import Invalid, cells_of_direct_row, cells_of_entry, json_to_direct_row
from benchmarks.measure import Contender, Result, alternate, faster
from producer.breaking import BROKEN_KINDS, break_message
from transactions import layout
from transactions.contract import InvalidMessage, parse_transaction
from transactions_pipeline.rows import to_row
from transactions_wire.bigtable import encode_entry

FAMILY = layout.FAMILY


def ours(message) -> bytes:
    return encode_entry(to_row(parse_transaction(message.data), message), FAMILY)


def baseline(message) -> DirectRow:
    return json_to_direct_row(message.data, FAMILY)


def _accepts(transform, message, refusal: type[Exception]) -> bool:
    try:
        transform(message)
    except refusal:
        return False
    return True


def run(count: int, rounds: int, log=print) -> list[Result]:
    log(f"transform: {count:,} messages, parse + validate + row key + mutations, one core, {rounds} rounds")
    messages = workloads.messages(count)
    for message in messages:
        if cells_of_direct_row(baseline(message)) != cells_of_entry(ours(message)):
            raise AssertionError(f"baseline and ours disagree on {message.data!r}")
    for kind in BROKEN_KINDS:  # and both refuse what the contract refuses
        broken = break_message(messages[0], kind)
        if _accepts(ours, broken, InvalidMessage) or _accepts(baseline, broken, Invalid):
            raise AssertionError(f"a {kind} message was accepted: {broken.data!r}")
    log(f"  same key and cells from both for all {count:,} messages; both refuse {len(BROKEN_KINDS)} broken kinds")

    def baseline_work() -> int:
        for message in messages:
            baseline(message)
        return len(messages)

    def ours_work() -> int:
        for message in messages:
            ours(message)
        return len(messages)

    medians = alternate({"json + DirectRow": Contender(baseline_work), "ours": Contender(ours_work)}, rounds, log)
    return [
        Result(
            "transform (per core)",
            "json + Decimal + DirectRow",
            "ours",
            medians["json + DirectRow"],
            medians["ours"],
            goal=faster(2),
        )
    ]
