"""``PublishDeadLetters``' batching: up to 1,000 messages or 8 MiB a request, everything confirmed
before the bundle ends, and a failed publish failing the bundle.

The generated ``PublisherClient`` is replaced by a stand-in whose ``api.publish`` records each
request (or raises, when told to): the DoFn's own logic is the batching and what it does with
the answer. Publishing to the real emulator, lineage and display data in a running pipeline are
``tests/integration/test_dead_letter_sink_emulator.py``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import google.cloud.pubsub_v1 as pubsub_v1
import pytest
from google.api_core import exceptions as api_exceptions

from transactions.dead_letters import DeadLetter, attributes_size, dead_letter
from transactions_pipeline import dead_letter_sink

TOPIC = "projects/my-project/topics/dead-letters"


@dataclass
class Transport:
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class Api:
    fail_with: BaseException | None = None
    requests: list[tuple[str, list[Any], float]] = field(default_factory=list)
    transport: Transport = field(default_factory=Transport)

    def publish(self, topic: str, messages: list[Any], timeout: float) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.requests.append((topic, messages, timeout))


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Api:
    stand_in = Api()

    class PublisherClient:
        def __init__(self) -> None:
            self.api = stand_in

        def stop(self) -> None:
            """What ``clients.pubsub_publisher`` calls before it closes the transport."""

    monkeypatch.setattr(pubsub_v1, "PublisherClient", PublisherClient)
    return stand_in


def letters(count: int, reason: str = "bad_price", size: int = 10) -> list[DeadLetter]:
    return [dead_letter(b"x" * size, {"transaction_id": f"t{i}"}, "validate", reason, "d") for i in range(count)]


def bundle(fn: Any, *bundles: list[DeadLetter]) -> None:
    for letters_of_bundle in bundles:
        fn.start_bundle()
        for letter in letters_of_bundle:
            fn.process(letter)
        fn.finish_bundle()


def test_a_bundle_is_published_in_requests_of_at_most_1000_all_before_it_ends(api):
    fn = dead_letter_sink._PublishDeadLettersFn(TOPIC)
    fn.setup()
    sent = letters(2500)
    fn.start_bundle()
    for letter in sent:
        fn.process(letter)
    assert [len(messages) for _, messages, _ in api.requests] == [1000, 1000]  # the rest waits for the bundle's end
    fn.finish_bundle()
    assert [len(messages) for _, messages, _ in api.requests] == [1000, 1000, 500]
    assert {(topic, timeout) for topic, _, timeout in api.requests} == {(TOPIC, 120.0)}
    published = [message for _, messages, _ in api.requests for message in messages]
    assert [(m.data, dict(m.attributes)) for m in published] == [(x.data, x.attributes) for x in sent]


def test_a_request_stays_under_the_byte_limit(api, monkeypatch):
    sent = letters(5, size=100)
    one = len(sent[0].data) + attributes_size(sent[0].attributes)
    monkeypatch.setattr(dead_letter_sink, "MAX_BYTES_PER_PUBLISH", 2 * one)
    fn = dead_letter_sink._PublishDeadLettersFn(TOPIC)
    fn.setup()
    bundle(fn, sent)
    assert [len(messages) for _, messages, _ in api.requests] == [2, 2, 1]


def test_a_letter_over_the_limit_alone_is_still_sent_alone(api, monkeypatch):
    monkeypatch.setattr(dead_letter_sink, "MAX_BYTES_PER_PUBLISH", 50)
    fn = dead_letter_sink._PublishDeadLettersFn(TOPIC)
    fn.setup()
    bundle(fn, letters(1, size=10), letters(2, size=500))
    assert [len(messages) for _, messages, _ in api.requests] == [1, 1, 1]


def test_an_empty_bundle_publishes_nothing(api):
    fn = dead_letter_sink._PublishDeadLettersFn(TOPIC)
    fn.setup()
    bundle(fn, [], [])
    assert api.requests == []


def test_a_publish_that_fails_fails_the_bundle(api):
    """The runner then retries the bundle: no source message is acknowledged while its dead
    letter went nowhere."""
    api.fail_with = api_exceptions.ServiceUnavailable("down")
    fn = dead_letter_sink._PublishDeadLettersFn(TOPIC)
    fn.setup()
    fn.start_bundle()
    fn.process(letters(1)[0])
    with pytest.raises(api_exceptions.ServiceUnavailable):
        fn.finish_bundle()


def test_teardown_closes_the_clients_channel_and_display_data_names_the_topic(api):
    fn = dead_letter_sink._PublishDeadLettersFn(TOPIC)
    fn.teardown()  # never set up: nothing to close, no error
    fn.setup()
    fn.teardown()
    assert api.transport.closed
    item = fn.display_data()["topic"]
    assert (item.value, item.label) == (TOPIC, "Dead-letter Pub/Sub topic")
