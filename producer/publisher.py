"""Batched, flow-controlled publishing through the generated Pub/Sub client.

``PublisherClient.publish`` spends most of its time in per-message Python (futures, batch
bookkeeping, proto-plus wrappers), several times what the transport costs (``make bench``
compares the two: ``benchmarks/RESULTS.md``). This publisher writes each message in protobuf
wire format, joins each batch's messages into the bytes of one ``PublishRequest`` and sends
them on the generated client's own channel (:mod:`transactions_wire.pubsub`), which keeps
Application Default Credentials, the emulator switch (``PUBSUB_EMULATOR_HOST``), and a retry
policy for transient errors. Batches go out on a few threads; a semaphore bounds the batches in
flight, so memory stays bounded at any rate. Every answer is checked: a batch that still fails
after the retries is counted as failed, with its transaction ids logged.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as retries

from producer.stats import Stats
from transactions.excerpt import message_line
from transactions.messages import Message
from transactions_wire.pubsub import MAX_MESSAGES_PER_REQUEST, encode_message, publish_request_bytes, publish_sender

_LOG = logging.getLogger(__name__)

MAX_BATCH_MESSAGES = MAX_MESSAGES_PER_REQUEST
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


def default_api():
    import google.cloud.pubsub_v1 as pubsub_v1

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
        self._send_request = publish_sender(api or default_api())
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
