"""Hand-written protobuf bytes parse to exactly the messages the library builds."""

import pytest
from google.protobuf.internal.encoder import _VarintBytes
from google.pubsub_v1.types import PublishRequest, PubsubMessage

from producer.protowire import length_delimited, tag, varint
from producer.publisher import encode_message, publish_request

MessagePb = PubsubMessage.pb()


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16_383, 16_384, 2**35, 2**63 - 1])
def test_varint(value):
    assert varint(value) == _VarintBytes(value)


def test_negative_varints_are_refused():
    with pytest.raises(ValueError, match="negative"):
        varint(-1)


def test_tag_and_length_delimited():
    assert tag(2, 2) == b"\x12" and tag(3, 0) == b"\x18" and tag(16, 2) == b"\x82\x01"
    assert length_delimited(1, b"abc") == b"\x0a\x03abc"


@pytest.mark.parametrize(
    ("data", "attributes"),
    [
        (b'{"transaction_id":"r:0:2"}', {"transaction_id": "r:0:2", "event_time": "2025-12-05T21:13:52.076Z"}),
        (b"", {"only": "attributes"}),
        (b"x" * 20_000, {}),
        ("ação".encode(), {"chave-ç": "valor-ã" * 40}),  # multi-byte lengths and UTF-8
    ],
)
def test_pubsub_message_bytes_parse_to_the_library_message(data, attributes):
    assert MessagePb.FromString(encode_message(data, attributes)) == MessagePb(data=data, attributes=attributes)


def test_publish_request_of_encoded_messages():
    messages = [(b"a", {"k": "v"}), (b"b" * 300, {}), (b"", {"x": "y"})]
    request = publish_request("projects/local-project/topics/transacoes", [encode_message(d, a) for d, a in messages])
    assert request == PublishRequest(topic="projects/local-project/topics/transacoes",
                                     messages=[PubsubMessage(data=d, attributes=a) for d, a in messages])  # fmt: skip
