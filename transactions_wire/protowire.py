"""The few pieces of protobuf's wire format that the encoders of :mod:`transactions_wire` write:
varints, field tags and length-delimited fields. Protobuf's compatibility rules freeze all three."""

from __future__ import annotations

SHORT = 1 << 14


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


SHORT_VARINTS = tuple(_encode_varint(n) for n in range(SHORT))
"""``SHORT_VARINTS[n]`` is the varint of ``n < SHORT`` (one or two bytes): hot paths index this
table for lengths, which nearly always are that small, instead of calling :func:`varint`."""


_CONTINUED = tuple(bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(SHORT))
"""``_CONTINUED[n]``: the two varint bytes of a 14-bit group ``n`` that more bytes follow."""


def varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative integer.

    Up to 2**56 (every timestamp in microseconds until year 4253) it is a few table lookups, one
    per 14 bits, instead of a loop per 7 bits.
    """
    if value < SHORT:
        if value < 0:
            raise ValueError(f"cannot encode a negative value as a varint here: {value}")
        return SHORT_VARINTS[value]
    if value < 1 << 28:
        return _CONTINUED[value & 0x3FFF] + SHORT_VARINTS[value >> 14]
    if value < 1 << 42:
        return _CONTINUED[value & 0x3FFF] + _CONTINUED[(value >> 14) & 0x3FFF] + SHORT_VARINTS[value >> 28]
    if value < 1 << 56:
        return (
            _CONTINUED[value & 0x3FFF]
            + _CONTINUED[(value >> 14) & 0x3FFF]
            + _CONTINUED[(value >> 28) & 0x3FFF]
            + SHORT_VARINTS[value >> 42]
        )
    return _encode_varint(value)


def tag(field_number: int, wire_type: int) -> bytes:
    """A field's key: 0 = varint, 2 = length-delimited (bytes, string, message)."""
    return varint(field_number << 3 | wire_type)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    """A bytes, string or embedded-message field."""
    return tag(field_number, 2) + varint(len(payload)) + payload
