"""The producer's hand-written PubsubMessages parse to exactly the messages the library builds."""

import pytest
from google.pubsub_v1.types import PublishRequest, PubsubMessage

from transactions_wire.pubsub import encode_message, publish_request_bytes

MessagePb = PubsubMessage.pb()


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
    encoded = [encode_message(d, a) for d, a in messages]
    request = PublishRequest.pb().FromString(publish_request_bytes("projects/local-project/topics/transacoes", encoded))
    assert request == PublishRequest.pb()(
        topic="projects/local-project/topics/transacoes",
        messages=[MessagePb(data=d, attributes=a) for d, a in messages],
    )
