"""Our ``Publish`` sender against the generated client's own ``publish``, on the wire.

Both run on one channel to the emulator, through a gRPC interceptor that records what each call
sends: the method, the metadata (routing header ``topic=``, ``x-goog-api-client``) and the
request. Ours must send the same method and metadata and an equal request (protobuf lets map
entries, the attributes, come in any order), and the messages land.
"""

import grpc
import pytest
from google.pubsub_v1.services.publisher import PublisherClient
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.types import PublishRequest

from tests.integration.harness import PROJECT, pull_messages
from transactions_wire.pubsub import encode_message, publish_request_bytes, publish_sender

pytestmark = pytest.mark.integration


class Recorder(grpc.UnaryUnaryClientInterceptor):
    def __init__(self):
        self.calls = []

    def intercept_unary_unary(self, continuation, details, request):
        wire = request if isinstance(request, bytes) else PublishRequest.serialize(request)
        self.calls.append((details.method, sorted(details.metadata or ()), wire))
        return continuation(details, request)


def test_our_sender_puts_on_the_wire_what_the_generated_client_does(emulators, unique):
    from google.cloud import pubsub_v1

    topic = f"projects/{PROJECT}/topics/wire-{unique}"
    subscription = f"projects/{PROJECT}/subscriptions/wire-{unique}"
    pubsub_v1.PublisherClient().create_topic(name=topic)
    pubsub_v1.SubscriberClient().create_subscription(name=subscription, topic=topic)
    recorder = Recorder()
    channel = grpc.intercept_channel(grpc.insecure_channel(emulators.pubsub_host), recorder)
    client = PublisherClient(transport=PublisherGrpcTransport(channel=channel))
    messages = [encode_message(b'{"n":%d}' % i, {"transaction_id": f"t{i}", "schema_version": "1"}) for i in range(3)]
    request = publish_request_bytes(topic, messages)

    generated = client.publish(request=PublishRequest.deserialize(request), retry=None, timeout=30)
    ours = publish_sender(client)(request, topic, None, 30)
    assert len(generated.message_ids) == len(ours.message_ids) == 3

    [generated_call, our_call] = recorder.calls
    assert our_call[:2] == generated_call[:2]
    # Map entries (attributes) may be serialized in any order; the messages must be equal.
    assert PublishRequest.deserialize(our_call[2]) == PublishRequest.deserialize(generated_call[2])
    assert our_call[0] == "/google.pubsub.v1.Publisher/Publish"
    headers = dict(our_call[1])
    assert headers["x-goog-request-params"] == f"topic={topic}"
    assert "x-goog-api-client" in headers
    received = pull_messages(subscription, expected=6)
    assert sorted(m.attributes["transaction_id"] for m in received) == sorted(["t0", "t1", "t2"] * 2)
