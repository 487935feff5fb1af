"""The dead-letter sink against the real Pub/Sub emulator: exact messages out, lineage, display data."""

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import Lineage
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.transforms.display import DisplayData

from tests.integration.harness import provision_for_test, pull_dead_letters
from transactions.dead_letters import dead_letter
from transactions_pipeline.dead_letter_sink import PublishDeadLetters, _PublishDeadLettersFn

pytestmark = pytest.mark.integration


def test_dead_letters_are_published_as_built_and_the_topic_is_a_lineage_sink(emulators, unique):
    resources = provision_for_test(unique)
    topic = resources.topic_path(resources.dead_letter_topic)
    letters = [
        dead_letter(f"body {i}".encode(), {"transaction_id": f"t{i}"}, "validate", "bad_price", "d") for i in range(3)
    ]
    pipeline = BeamTestPipeline(runner="FnApiRunner")
    pipeline | beam.Create(letters) | PublishDeadLetters(topic)
    result = pipeline.run()
    result.wait_until_finish()

    received = pull_dead_letters(resources, 3, timeout=30)
    assert sorted((m.data, dict(m.attributes)) for m in received) == sorted(
        (letter.data, letter.attributes) for letter in letters
    )
    assert Lineage.query(result.metrics(), Lineage.SINK) == {
        f"pubsub:topic:local-project.{resources.dead_letter_topic}"
    }


def test_display_data_names_the_topic():
    fn = _PublishDeadLettersFn("projects/local-project/topics/dead-letters")
    assert {i.key: i.value for i in DisplayData.create_from(fn).items} == {
        "topic": "projects/local-project/topics/dead-letters"
    }


def test_a_busy_pub_sub_delays_the_dead_letters_and_loses_none(emulators, unique, monkeypatch):
    """Every ``Publish`` refused UNAVAILABLE for a few seconds (the fault proxy in front of the
    Pub/Sub emulator, in this process only): the sink's publish is retried with backoff (the
    generated client's retry: docs/dead-letters.md, "Every call the job makes"), and once the
    refusals end every dead letter is on the topic, exactly as built."""
    import grpc

    from transactions_tools.local.fault_proxy import Fault, FaultProxy

    resources = provision_for_test(unique)
    topic = resources.topic_path(resources.dead_letter_topic)
    letters = [
        dead_letter(f"busy {i}".encode(), {"transaction_id": f"b{i}"}, "parse", "not_json", "d") for i in range(5)
    ]
    proxy = FaultProxy(emulators.pubsub_host).start()
    try:
        publish = frozenset({"/google.pubsub.v1.Publisher/Publish"})
        proxy.inject(Fault("calls", grpc.StatusCode.UNAVAILABLE, share=1.0, methods=publish), seconds=3)
        with monkeypatch.context() as through_the_proxy:
            through_the_proxy.setenv("PUBSUB_EMULATOR_HOST", proxy.address)
            pipeline = BeamTestPipeline(runner="FnApiRunner")
            pipeline | beam.Create(letters) | PublishDeadLetters(topic)
            pipeline.run().wait_until_finish()
        assert proxy.stats["calls failed UNAVAILABLE"] >= 2, dict(proxy.stats)
    finally:
        proxy.stop()
    received = pull_dead_letters(resources, 5, timeout=30)
    assert sorted((m.data, dict(m.attributes)) for m in received) == sorted((x.data, x.attributes) for x in letters)
