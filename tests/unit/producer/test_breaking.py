"""Deliberately broken messages: every kind is refused by the pipeline, in about the asked share."""

import pytest

from producer.breaking import BROKEN_KINDS, Breaker, break_message
from transactions.contract import InvalidMessage, parse_transaction
from transactions.kaggle import SaleRow
from transactions.messages import to_message


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_every_broken_kind_is_rejected_by_the_pipeline(kind):
    row = SaleRow(7, "u1", "P1", "Books", "332", 10, "298.8", "UPI", "2024-12-05")
    with pytest.raises(InvalidMessage):
        parse_transaction(break_message(to_message(row, "r:0:7"), kind).data)


def test_invalid_share_is_about_the_share_and_cycles_kinds():
    row = SaleRow(7, "u1", "P1", "Books", "332", 10, "298.8", "UPI", "2024-12-05")
    breaker = Breaker(0.1, "seed")
    broken = [m.broken for m in (breaker.maybe_break(to_message(row, f"r:0:{i}")) for i in range(2000)) if m.broken]
    assert 150 < len(broken) < 250
    assert set(broken) == set(BROKEN_KINDS)
