"""Batched, flow-controlled publishing through the generated Pub/Sub client.

``PublisherClient.publish`` spends most of its time in per-message Python (futures, batch
bookkeeping, proto-plus wrappers), several times what the transport costs (``make bench``
compares the two: ``benchmarks/RESULTS.md``). This publisher writes each message in protobuf
wire format, joins each batch's messages into the bytes of one ``PublishRequest`` and sends
them on the generated client's own channel (:mod:`transactions_wire.pubsub`), which keeps
Application Default Credentials, the emulator switch (``PUBSUB_EMULATOR_HOST``), and a retry
policy for transient errors. Batches go out on a few threads; a semaphore bounds the batches in
flight, so memory stays bounded at any rate. Every answer is checked: a batch that still fails
after its retries (transient codes, with backoff, for ``retry_seconds``) is counted as failed,
with its transaction ids logged, and :attr:`BatchPublisher.first_failed_line` names the first
CSV line not known to be published: resuming there (same run id, same transaction ids) leaves no
gap, at the cost of sending again what later batches had already published.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import TYPE_CHECKING

from google.api_core import exceptions as api_exceptions
from google.api_core import retry as retries

from producer.stats import Stats
from transactions.excerpt import message_line
from transactions.messages import Message
from transactions_wire import clients
from transactions_wire.pubsub import MAX_MESSAGES_PER_REQUEST, encode_message, publish_request_bytes, publish_sender

if TYPE_CHECKING:
    from google.pubsub_v1 import PublisherClient

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


class BatchPublisher:
    def __init__(
        self,
        topic: str,
        api: PublisherClient | None = None,
        batch_size: int = MAX_BATCH_MESSAGES,
        max_latency: float = 0.05,
        max_in_flight_batches: int = 8,
        threads: int = 4,
        retry_seconds: float = 120.0,
    ) -> None:
        self._topic = topic
        self._opened = ExitStack()
        if api is None:  # the generated client under google.cloud.pubsub_v1.PublisherClient, closed in close()
            api = self._opened.enter_context(clients.pubsub_publisher()).api
        self._send_request = publish_sender(api)
        self._batch_size = min(batch_size, MAX_BATCH_MESSAGES)
        self._max_latency = max_latency
        self._slots = threading.BoundedSemaphore(max_in_flight_batches)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="publish")
        self._retry = retries.Retry(
            initial=0.1,
            maximum=10.0,
            multiplier=2,
            deadline=retry_seconds,
            predicate=retries.if_exception_type(*TRANSIENT),
        )
        self.stats = Stats()
        self._batch: list[bytes] = []  # encoded PubsubMessages
        self._ids: list[str] = []
        self._first_line = 0
        self.first_failed_line: int | None = None
        """The first line of the earliest batch that failed after its retries (None: none failed)."""
        self.failing = threading.Event()
        """Set once a batch has failed after its retries: the caller stops adding."""
        self._bytes = 0
        self._started = 0.0

    def add(self, message: Message, line: int = 0) -> None:
        """Queue ``message``, read from CSV line ``line`` (for :attr:`first_failed_line`)."""
        encoded = encode_message(message.data, message.attributes)
        size = len(encoded)
        if self._batch and self._bytes + size > MAX_BATCH_BYTES:
            self._submit()
        if not self._batch:
            self._started = time.monotonic()
            self._first_line = line
        self._batch.append(encoded)
        self._ids.append(message.transaction_id)
        self._bytes += size
        if len(self._batch) >= self._batch_size:
            self._submit()

    def poll(self) -> None:
        """Send a partial batch once it is ``max_latency`` old (keeps paced streams timely)."""
        if self._batch and time.monotonic() - self._started >= self._max_latency:
            self._submit()

    def close(self) -> None:
        """Send what is buffered, wait for every batch in flight, and close the client."""
        try:
            if self._batch:
                self._submit()
            self._pool.shutdown(wait=True)
        finally:
            self._opened.close()

    def _submit(self) -> None:
        batch, ids, started, line = self._batch, self._ids, self._started, self._first_line
        self._batch, self._ids, self._bytes = [], [], 0
        self._slots.acquire()  # flow control: blocks while too many batches are in flight
        self._pool.submit(self._send, batch, ids, started, line)

    def _send(self, batch: list[bytes], ids: list[str], started: float, line: int) -> None:
        try:
            request = publish_request_bytes(self._topic, batch)
            response = self._send_request(request, self._topic, self._retry, 60.0)
            answered = len(response.message_ids)
            if answered != len(batch):
                raise RuntimeError(f"Pub/Sub answered {answered} ids for {len(batch)} messages")
            latency = time.monotonic() - started
            with self.stats.lock:
                self.stats.published += len(batch)
                self.stats.latencies.extend([latency] * min(len(batch), 100))
        except Exception as error:  # every failure is counted and named, never lost
            with self.stats.lock:
                self.stats.failed += len(batch)
                if self.first_failed_line is None or line < self.first_failed_line:
                    self.first_failed_line = line
            self.failing.set()
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
