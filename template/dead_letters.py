"""Dead letters: a message that is not written goes to the dead-letter topic, never nowhere.

The data is the original bytes, unchanged, so a fixed message can be replayed as it is; the
attributes are the original ones plus ``error_stage``, ``error_reason``, ``error_detail`` and
``failed_at``. Publishing waits for the service's answer before the bundle ends, so a source
message is never acknowledged before its dead letter is out.

One exception: a message already near Pub/Sub's 10 MB limit may not fit once the error
attributes are added, and a dead letter that can never be published would fail its bundle
forever and stall the subscription. Such a dead letter keeps the first bytes that fit, and
says so: ``error_data_truncated_from`` (the original length) and ``error_data_sha256``.
"""

import hashlib
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import NamedTuple

import apache_beam as beam
from apache_beam.metrics import Metrics

from producer.messages import rfc3339_ms
from template.metrics import METRICS_NAMESPACE, CounterFamily

DETAIL_MAX_CHARS = 1000
_ATTRIBUTE_VALUE_MAX_BYTES = 1024  # Pub/Sub's limit on one attribute value
_MAX_MESSAGES_PER_PUBLISH = 1000  # Pub/Sub's limit on one PublishRequest
_MAX_BYTES_PER_PUBLISH = 8 * 1024 * 1024  # under the 10 MB request limit, with room for attributes
MAX_DEAD_LETTER_BYTES = 9 * 1024 * 1024
"""Data plus attributes of one dead letter: under Pub/Sub's 10 MB, with room for the request."""
_PUBLISH_TIMEOUT_SECONDS = 120.0

_LOG = logging.getLogger(__name__)


class DeadLetter(NamedTuple):
    """One rejected message, ready to publish."""

    data: bytes
    attributes: dict[str, str]


def dead_letter(
    data: bytes,
    attributes: dict[str, str] | None,
    stage: str,
    reason: str,
    detail: str,
    failed_at: datetime | None = None,
) -> DeadLetter:
    """Build a dead letter; any ``error_*`` attributes of an earlier failure are replaced."""
    moment = failed_at or datetime.now(UTC)
    merged = dict(attributes or {})
    merged["error_stage"] = stage
    merged["error_reason"] = reason
    merged["error_detail"] = _truncate_detail(detail)
    merged["failed_at"] = rfc3339_ms(moment)
    return _fit(bytes(data), merged)


def _attributes_size(attributes: dict[str, str]) -> int:
    return sum(len(key.encode()) + len(value.encode()) for key, value in attributes.items())


def _fit(data: bytes, attributes: dict[str, str]) -> DeadLetter:
    """The dead letter as is, or with its data cut to fit Pub/Sub's limit (and marked so)."""
    if len(data) + _attributes_size(attributes) <= MAX_DEAD_LETTER_BYTES:
        return DeadLetter(data, attributes)
    marked = {
        **attributes,
        "error_data_truncated_from": str(len(data)),
        "error_data_sha256": hashlib.sha256(data).hexdigest(),
    }
    room = MAX_DEAD_LETTER_BYTES - _attributes_size(marked)
    _LOG.warning("dead letter data cut from %d to %d bytes to fit Pub/Sub's message limit", len(data), room)
    return DeadLetter(data[:room], marked)


def _truncate_detail(detail: str) -> str:
    text = detail if len(detail) <= DETAIL_MAX_CHARS else detail[: DETAIL_MAX_CHARS - 3] + "..."
    encoded = text.encode()
    if len(encoded) > _ATTRIBUTE_VALUE_MAX_BYTES:
        text = encoded[: _ATTRIBUTE_VALUE_MAX_BYTES - 3].decode(errors="ignore") + "..."
    return text


class _PublishDeadLettersFn(beam.DoFn):
    """Publishes dead letters in batches through the generated Pub/Sub client.

    The generated (GAPIC) ``publish`` keeps Application Default Credentials, the routing
    header and the library's retry policy for transient errors; the emulator is honoured
    through ``PUBSUB_EMULATOR_HOST`` by the client itself. A batch that still fails raises,
    so the runner retries the bundle instead of acknowledging messages that went nowhere.
    """

    def __init__(self, topic: str) -> None:
        self._topic = topic
        self._published = Metrics.counter(METRICS_NAMESPACE, "dead_lettered")
        self._by_reason = CounterFamily("dead_lettered_")

    def setup(self) -> None:
        from google.cloud import pubsub_v1
        from google.pubsub_v1.types import PubsubMessage

        self._api = pubsub_v1.PublisherClient().api
        self._message_type = PubsubMessage
        self._batch: list = []
        self._batch_bytes = 0

    def start_bundle(self) -> None:
        self._batch = []
        self._batch_bytes = 0

    def process(self, letter: DeadLetter) -> None:
        size = len(letter.data) + sum(len(k) + len(v) for k, v in letter.attributes.items())
        if self._batch and (
            len(self._batch) >= _MAX_MESSAGES_PER_PUBLISH or self._batch_bytes + size > _MAX_BYTES_PER_PUBLISH
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
        self._api.publish(topic=self._topic, messages=messages, timeout=_PUBLISH_TIMEOUT_SECONDS)
        reasons = Counter(
            f"{letter.attributes['error_stage']}/{letter.attributes['error_reason']}" for letter in self._batch
        )
        for stage_and_reason, count in reasons.items():
            self._by_reason[stage_and_reason.replace("/", "_")].inc(count)
        _LOG.warning("published %d dead letters: %s", len(self._batch), dict(reasons))
        self._published.inc(len(self._batch))
        self._batch = []
        self._batch_bytes = 0


class PublishDeadLetters(beam.PTransform):
    """Publish :class:`DeadLetter` records to ``projects/<p>/topics/<t>``."""

    def __init__(self, topic: str) -> None:
        super().__init__()
        self._topic = topic

    def expand(self, letters):
        return letters | "Publish" >> beam.ParDo(_PublishDeadLettersFn(self._topic))
