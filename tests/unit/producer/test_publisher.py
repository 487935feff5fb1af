"""``BatchPublisher``: batches by count and bytes, sends each as one ``PublishRequest``'s bytes,
and counts every message as published or failed, never lost.

The sender (``transactions_wire.pubsub.publish_sender``, the generated client's channel) is
replaced by a scripted one that records each request and answers, fails or answers short as told:
no network. The same publisher against the emulator is ``tests/integration/test_publisher_emulator.py``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pytest
from google.api_core import exceptions as api_exceptions

from producer import publisher
from transactions.messages import Message
from transactions_wire.pubsub import encode_message, publish_request_bytes

if TYPE_CHECKING:
    from google.pubsub_v1 import PublisherClient

TOPIC = "projects/local-project/topics/transacoes"


@dataclass
class Answer:
    message_ids: list[str]


@dataclass
class Sender:
    """Records each call; ``script`` says, per call in order, "ok", "short" or an exception."""

    script: list[Any] = field(default_factory=list)
    calls: list[tuple[bytes, str, Any, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: bytes, topic: str, retry: Any, timeout: float) -> Answer:
        with self.lock:
            self.calls.append((request, topic, retry, timeout))
            what = self.script[len(self.calls) - 1] if len(self.calls) <= len(self.script) else "ok"
        if isinstance(what, BaseException):
            raise what
        count = request.count(b"transaction_id")  # one attribute per message
        return Answer([str(n) for n in range(count - (what == "short"))])


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> Sender:
    scripted = Sender()
    monkeypatch.setattr(publisher, "publish_sender", lambda api: scripted)
    return scripted


def fake_api() -> PublisherClient:
    """A stand-in for the generated client: never called, the scripted sender answers instead."""
    return cast("PublisherClient", object())


def message(n: int, size: int = 10) -> Message:
    attributes = {"transaction_id": f"r:0:{n}", "event_time": "2025-12-05T21:13:52.076Z"}
    return Message(b"x" * size, attributes, f"r:0:{n}")


def test_messages_go_out_in_batches_of_the_batch_size_as_publish_request_bytes(sender):
    sent = [message(n) for n in range(25)]
    batches = publisher.BatchPublisher(TOPIC, api=fake_api(), batch_size=10, threads=1)
    for n, m in enumerate(sent):
        batches.add(m, line=n + 2)
    batches.close()
    assert [call[0] for call in sender.calls] == [
        publish_request_bytes(TOPIC, [encode_message(m.data, m.attributes) for m in sent[start : start + 10]])
        for start in (0, 10, 20)
    ]
    assert {(topic, timeout) for _, topic, _, timeout in sender.calls} == {(TOPIC, 60.0)}
    assert (batches.stats.published, batches.stats.failed, batches.first_failed_line) == (25, 0, None)
    assert len(batches.stats.latencies) == 25


def test_a_batch_stays_under_the_byte_limit(sender, monkeypatch):
    one = len(encode_message(message(0, 100).data, message(0, 100).attributes))
    monkeypatch.setattr(publisher, "MAX_BATCH_BYTES", 3 * one)
    batches = publisher.BatchPublisher(TOPIC, api=fake_api(), threads=1)
    for n in range(7):
        batches.add(message(n, 100))
    batches.close()
    assert [request.count(b"transaction_id") for request, *_ in sender.calls] == [3, 3, 1]


def test_the_batch_size_is_capped_at_pubsubs_1000(sender):
    batches = publisher.BatchPublisher(TOPIC, api=fake_api(), batch_size=5000, threads=1)
    for n in range(1001):
        batches.add(message(n, 1))
    batches.close()
    assert [request.count(b"transaction_id") for request, *_ in sender.calls] == [1000, 1]


def test_poll_sends_a_partial_batch_once_it_is_old_enough(sender):
    patient = publisher.BatchPublisher(TOPIC, api=fake_api(), max_latency=3600, threads=1)
    patient.add(message(0))
    patient.poll()
    assert sender.calls == []  # not old enough: nothing submitted
    patient.close()  # sends it: close sends what is buffered
    assert len(sender.calls) == 1
    eager = publisher.BatchPublisher(TOPIC, api=fake_api(), max_latency=0, threads=1)
    eager.add(message(1))
    eager.poll()
    deadline = time.monotonic() + 10
    while len(sender.calls) < 2 and time.monotonic() < deadline:  # sent by poll, before any close
        time.sleep(0.01)
    assert len(sender.calls) == 2
    eager.close()
    assert len(sender.calls) == 2


def test_a_transient_error_is_retried_and_another_is_not(sender):
    batches = publisher.BatchPublisher(TOPIC, api=fake_api(), threads=1)
    batches.add(message(0))
    batches.close()
    retry = sender.calls[0][2]
    attempts: list[str] = []

    def busy_once() -> str:
        attempts.append("busy_once")
        if len(attempts) == 1:
            raise api_exceptions.ServiceUnavailable("busy")
        return "published"

    def gone() -> str:
        attempts.append("gone")
        raise api_exceptions.NotFound("no topic")

    assert retry(busy_once)() == "published"
    with pytest.raises(api_exceptions.NotFound):
        retry(gone)()
    assert attempts == ["busy_once", "busy_once", "gone"]


def test_a_failed_batch_is_counted_named_and_remembered(sender, caplog):
    sender.script = ["ok", api_exceptions.NotFound("topic gone"), "short"]
    batches = publisher.BatchPublisher(TOPIC, api=fake_api(), batch_size=2, threads=1)
    for n in range(6):
        batches.add(message(n), line=n + 2)
    batches.close()
    assert (batches.stats.published, batches.stats.failed) == (2, 4)
    assert batches.first_failed_line == 4  # the first line of the earliest failed batch
    assert batches.failing.is_set()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        "failed to publish 2 messages (r:0:2 ... r:0:3): NotFound: topic gone",
        "failed to publish 2 messages (r:0:4 ... r:0:5): RuntimeError: Pub/Sub answered 1 ids for 2 messages",
    ]
