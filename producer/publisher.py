"""Batched, flow-controlled publishing through the generated Pub/Sub client.

``PublisherClient.publish`` spends most of its time in per-message Python (futures, batch
bookkeeping, proto-plus wrappers), several times what the transport costs (``make bench``
compares the two: ``benchmarks/RESULTS.md``). This publisher writes each
message in protobuf wire format (:func:`encode_message`; a ``PubsubMessage`` object with its
attributes map costs twice as much), joins each batch's messages into the bytes of one
``PublishRequest``, and sends them on the generated client's own channel (:func:`channel_sender`),
which keeps Application Default Credentials, the emulator switch (``PUBSUB_EMULATOR_HOST``) and
the library's retry policy for transient errors. Batches go out on a few threads; a semaphore bounds the batches
in flight, so memory stays bounded at any rate. Every answer is checked: a batch that still
fails after the retries is counted as failed, with its transaction ids logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as retries

from producer.stats import Stats
from transactions.excerpt import message_line
from transactions.messages import Message
from transactions.protowire import SHORT, SHORT_VARINTS, length_delimited, tag, varint

_LOG = logging.getLogger(__name__)
_DATA = tag(1, 2)  # PubsubMessage.data = 1; attributes = 2 (map entries: key = 1, value = 2)
_ATTRIBUTE = tag(2, 2)
_VALUE = tag(2, 2)  # a map entry: key = 1, value = 2
_MESSAGE = tag(2, 2)  # PublishRequest.topic = 1; messages = 2

MAX_BATCH_MESSAGES = 1000  # Pub/Sub's limit per PublishRequest
MAX_BATCH_BYTES = 9 * 1024 * 1024  # under the 10 MB request limit
TRANSIENT = (
    api_exceptions.Aborted,
    api_exceptions.Cancelled,
    api_exceptions.DeadlineExceeded,
    api_exceptions.InternalServerError,
    api_exceptions.ResourceExhausted,
    api_exceptions.ServiceUnavailable,
    api_exceptions.Unknown,
)


@lru_cache(maxsize=256)
def _key_field(key: str) -> bytes:
    """An attribute's key as a map entry's field 1, plus the tag of its value: the same every time."""
    return length_delimited(1, key.encode()) + _VALUE


def encode_message(data: bytes, attributes: dict[str, str]) -> bytes:
    """A ``PubsubMessage`` (data and attributes) in protobuf wire format.

    Attribute keys repeat, so each key's bytes are made once; a short attribute (every length
    under 128, nearly always) is one bytes-formatting operation.
    """
    short = SHORT_VARINTS
    parts = [_DATA, short[len(data)] if len(data) < SHORT else varint(len(data)), data] if data else []
    for key, value in attributes.items():
        key_field, value_bytes = _key_field(key), value.encode()
        entry = len(key_field) + 1 + len(value_bytes)
        if len(value_bytes) < 128 and entry < 128:
            parts.append(b"\x12%c%s%c%s" % (entry, key_field, len(value_bytes), value_bytes))
            continue
        entry_bytes = key_field + varint(len(value_bytes)) + value_bytes
        parts += (_ATTRIBUTE, varint(len(entry_bytes)), entry_bytes)
    return b"".join(parts)


def publish_request_bytes(topic: str, encoded_messages: list[bytes]) -> bytes:
    """A whole ``PublishRequest`` of encoded messages, as bytes ready for the wire."""
    parts = [length_delimited(1, topic.encode())]
    for message in encoded_messages:
        parts += (_MESSAGE, varint(len(message)), message)
    return b"".join(parts)


Sender = Callable[[bytes, str, object, float], object]
"""(encoded PublishRequest, topic, retry, timeout) -> the PublishResponse."""


def channel_sender(api) -> Sender:
    """Publish requests sent as the bytes they are, on the generated client's own channel.

    Handing them to the generated ``publish`` would parse each request into an object only for
    gRPC to serialize it again. This sends the bytes on the channel the library built (ADC,
    endpoint, ``PUBSUB_EMULATOR_HOST``), wrapped as the generated transport wraps its methods
    (``x-goog-api-client``, timeouts, errors mapped to ``google.api_core`` exceptions, and the
    retry given), with the routing header the generated client adds (``topic=...``).
    ``tests/integration/test_publisher_emulator.py`` compares the two on the wire.
    """
    from google.api_core import gapic_v1
    from google.pubsub_v1.services.publisher.transports.base import DEFAULT_CLIENT_INFO
    from google.pubsub_v1.types import PublishResponse

    stub = api.transport.grpc_channel.unary_unary(
        "/google.pubsub.v1.Publisher/Publish",
        request_serializer=None,
        response_deserializer=PublishResponse.pb().FromString,
    )
    wrapped = gapic_v1.method.wrap_method(stub, default_timeout=60.0, client_info=DEFAULT_CLIENT_INFO)

    def send(request: bytes, topic: str, retry, timeout: float):
        metadata = (gapic_v1.routing_header.to_grpc_metadata({"topic": topic}),)
        return wrapped(request, retry=retry, timeout=timeout, metadata=metadata)

    return send


def default_api():
    from google.cloud import pubsub_v1

    return pubsub_v1.PublisherClient().api


class BatchPublisher:
    def __init__(
        self,
        topic: str,
        api=None,
        batch_size: int = MAX_BATCH_MESSAGES,
        max_latency: float = 0.05,
        max_in_flight_batches: int = 8,
        threads: int = 4,
        retry_deadline: float = 120.0,
    ) -> None:
        self._topic = topic
        self._send_request = channel_sender(api or default_api())
        self._batch_size = min(batch_size, MAX_BATCH_MESSAGES)
        self._max_latency = max_latency
        self._slots = threading.BoundedSemaphore(max_in_flight_batches)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="publish")
        self._retry = retries.Retry(
            initial=0.1,
            maximum=10.0,
            multiplier=2,
            deadline=retry_deadline,
            predicate=retries.if_exception_type(*TRANSIENT),
        )
        self.stats = Stats()
        self._batch: list[bytes] = []  # encoded PubsubMessages
        self._ids: list[str] = []
        self._bytes = 0
        self._opened = 0.0

    def add(self, message: Message) -> None:
        encoded = encode_message(message.data, message.attributes)
        size = len(encoded)
        if self._batch and self._bytes + size > MAX_BATCH_BYTES:
            self._submit()
        if not self._batch:
            self._opened = time.monotonic()
        self._batch.append(encoded)
        self._ids.append(message.transaction_id)
        self._bytes += size
        if len(self._batch) >= self._batch_size:
            self._submit()

    def poll(self) -> None:
        """Send a partial batch once it is ``max_latency`` old (keeps paced streams timely)."""
        if self._batch and time.monotonic() - self._opened >= self._max_latency:
            self._submit()

    def close(self) -> None:
        """Send what is buffered and wait for every batch in flight."""
        if self._batch:
            self._submit()
        self._pool.shutdown(wait=True)

    def _submit(self) -> None:
        batch, ids, opened = self._batch, self._ids, self._opened
        self._batch, self._ids, self._bytes = [], [], 0
        self._slots.acquire()  # flow control: blocks while too many batches are in flight
        self._pool.submit(self._send, batch, ids, opened)

    def _send(self, batch: list, ids: list[str], opened: float) -> None:
        try:
            request = publish_request_bytes(self._topic, batch)
            response = self._send_request(request, self._topic, self._retry, 60.0)
            answered = len(response.message_ids)
            if answered != len(batch):
                raise RuntimeError(f"Pub/Sub answered {answered} ids for {len(batch)} messages")
            latency = time.monotonic() - opened
            with self.stats.lock:
                self.stats.published += len(batch)
                self.stats.latencies.extend([latency] * min(len(batch), 100))
        except Exception as error:  # every failure is counted and named, never lost
            with self.stats.lock:
                self.stats.failed += len(batch)
            _LOG.error(
                "failed to publish %d messages (%s ... %s): %s: %s",
                len(batch),
                ids[0],
                ids[-1],
                type(error).__name__,
                message_line(error),
            )
        finally:
            self._slots.release()
