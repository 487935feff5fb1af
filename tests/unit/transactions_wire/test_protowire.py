"""The wire-format helpers write exactly the bytes protobuf itself writes."""

import pytest
from google.protobuf.internal.encoder import _VarintBytes

from transactions_wire.protowire import length_delimited, tag, varint


@pytest.mark.parametrize(
    "value",
    [
        0,
        1,
        127,
        128,
        300,
        16_383,
        16_384,
        2**21,
        2**28 - 1,
        2**28,
        2**35,
        2**42 - 1,
        2**42,
        1_764_969_232_076_000,
        2**49,
        2**56 - 1,
        2**56,
        2**63 - 1,
    ],
)
def test_varint(value):
    assert varint(value) == _VarintBytes(value)


def test_every_power_of_two_and_its_neighbours():
    for bits in range(64):
        for value in (2**bits - 1, 2**bits, 2**bits + 1):
            if value < 2**64:
                assert varint(value) == _VarintBytes(value), value


def test_negative_varints_are_refused():
    with pytest.raises(ValueError, match="negative"):
        varint(-1)


def test_tag_and_length_delimited():
    assert tag(2, 2) == b"\x12" and tag(3, 0) == b"\x18" and tag(16, 2) == b"\x82\x01"
    assert length_delimited(1, b"abc") == b"\x0a\x03abc"
