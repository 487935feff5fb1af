"""``PublishDeadLetters``: the Beam sink of the dead-letter topic.

The format of a dead letter is contract v1's (:mod:`transactions.dead_letters`). This sink
publishes them in batches through the generated Pub/Sub client, whose ``publish`` keeps
Application Default Credentials, the routing header and the library's retry policy for
transient errors; ``PUBSUB_EMULATOR_HOST`` is honoured by the client itself. Publishing waits
for the service's answer before the bundle ends, and a batch that still fails raises, so the
runner retries the bundle instead of acknowledging source messages whose dead letters went
nowhere. Like Beam's own sinks, it reports ``display_data`` and its topic as a lineage sink.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import ExitStack
from typing import Never

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import Lineage
from apache_beam.transforms.display import DisplayDataItem

from transactions import resource_names
from transactions.dead_letters import DeadLetter, attributes_size, stage_and_reason
from transactions_pipeline import metrics
from transactions_wire import clients

MAX_MESSAGES_PER_PUBLISH = 1000
"""Pub/Sub's limit on one PublishRequest."""
MAX_BYTES_PER_PUBLISH = 8 * 1024 * 1024
"""Under the 10 MB request limit, with room for the request's own fields."""
PUBLISH_TIMEOUT_SECONDS = 120.0

_LOG = logging.getLogger(__name__)


class _PublishDeadLettersFn(beam.DoFn):
    """Publishes dead letters in batches; every batch is confirmed before the bundle ends."""

    def __init__(self, topic: str) -> None:
        self._topic = topic
        self._published = Metrics.counter(metrics.NAMESPACE, metrics.DEAD_LETTERED)
        self._by_reason = metrics.CounterFamily(metrics.DEAD_LETTERED_BY_REASON)

    def display_data(self) -> dict:
        return {"topic": DisplayDataItem(self._topic, label="Dead-letter Pub/Sub topic")}

    def setup(self) -> None:
        from google.pubsub_v1.types import PubsubMessage

        self._opened = ExitStack()
        self._api = self._opened.enter_context(clients.pubsub_publisher()).api
        self._message_type = PubsubMessage
        self._lineage_reported = False
        self._batch: list[DeadLetter] = []
        self._batch_bytes = 0

    def teardown(self) -> None:
        opened = getattr(self, "_opened", None)
        if opened is not None:
            opened.close()

    def start_bundle(self) -> None:
        self._batch = []
        self._batch_bytes = 0

    def process(self, letter: DeadLetter) -> None:
        size = len(letter.data) + attributes_size(letter.attributes)
        if self._batch and (
            len(self._batch) >= MAX_MESSAGES_PER_PUBLISH or self._batch_bytes + size > MAX_BYTES_PER_PUBLISH
        ):
            self._flush()
        self._batch.append(letter)
        self._batch_bytes += size

    def finish_bundle(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        messages = [self._message_type(data=letter.data, attributes=letter.attributes) for letter in self._batch]
        self._api.publish(topic=self._topic, messages=messages, timeout=PUBLISH_TIMEOUT_SECONDS)
        if not self._lineage_reported:
            self._lineage_reported = True
            project, topic = resource_names.project_of(self._topic), resource_names.short_name(self._topic)
            Lineage.sinks().add("pubsub", project, topic, subtype="topic")
        reasons = Counter(stage_and_reason(letter.attributes) for letter in self._batch)
        for key, count in reasons.items():
            self._by_reason[key.replace("/", "_")].inc(count)
        _LOG.warning("published %d dead letters: %s", len(self._batch), dict(reasons))
        self._published.inc(len(self._batch))
        self._batch = []
        self._batch_bytes = 0


class PublishDeadLetters(beam.PTransform):
    """Publish :class:`DeadLetter` records to ``projects/<p>/topics/<t>``."""

    def __init__(self, topic: str) -> None:
        super().__init__()
        self._topic = topic

    def expand(self, letters: beam.PCollection[DeadLetter]) -> beam.PCollection[Never]:
        """The sink's output: empty (every letter is published, or the bundle fails)."""
        return letters | "Publish" >> beam.ParDo(_PublishDeadLettersFn(self._topic))
