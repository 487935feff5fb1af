"""Helpers for integration tests: provision, publish, pull dead letters, read rows, run the job."""

import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from apache_beam.options.pipeline_options import PipelineOptions

from transactions_pipeline.options import JobConfig
from transactions_pipeline.pipeline import run
from transactions_tools import defaults
from transactions_tools.provision import Resources, provision

PROJECT = defaults.PROJECT
INSTANCE = defaults.INSTANCE
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


def provision_for_test(unique: str, forgotten_table: str = defaults.FORGOTTEN_TABLE) -> Resources:
    """Topics, subscriptions and tables of the test's own; the forgotten users' table is the shared
    default one (empty: no test records anyone there, so a launch that reads it drops nothing),
    unless the test names its own."""
    resources = Resources(
        project=PROJECT,
        instance=INSTANCE,
        table=f"transacoes-{unique}",
        topic=f"transacoes-{unique}",
        subscription=f"pipeline-{unique}",
        dead_letter_topic=f"dead-letter-{unique}",
        dead_letter_subscription=f"dead-letter-sub-{unique}",
        rollups_table=f"rollups-{unique}",
        forgotten_table=forgotten_table,
    )
    provision(resources, log=lambda _: None)
    return resources


def job_config(resources: Resources, **overrides: Any) -> JobConfig:
    values: dict[str, Any] = dict(
        input_subscription=resources.subscription_path(resources.subscription),
        dead_letter_topic=resources.topic_path(resources.dead_letter_topic),
        bigtable_project=PROJECT,
        bigtable_instance=INSTANCE,
        bigtable_table=resources.table,
        column_family=resources.column_family,
    )
    values.update(overrides)
    return JobConfig(**values)


def publish(resources: Resources, messages: list[tuple[bytes, dict[str, str]]]) -> None:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    topic = resources.topic_path(resources.topic)
    # Attributes go as keywords: none of ours is named like publish's own (ordering_key, retry, timeout).
    futures = [publisher.publish(topic, data, **cast(dict[str, Any], attributes)) for data, attributes in messages]
    for future in futures:
        future.result(timeout=30)


def pull_dead_letters(resources: Resources, expected: int, timeout: float = 60) -> list:
    """Pull (and ack) until ``expected`` dead letters arrived; returns the Pub/Sub messages."""
    return pull_messages(resources.subscription_path(resources.dead_letter_subscription), expected, timeout)


def read_rows(
    resources: Resources, table_id: str | None = None, family_name: str | None = None, client: Any = None
) -> dict[bytes, dict[bytes, list[tuple[bytes, int]]]]:
    """row key -> qualifier -> [(value, timestamp micros), ...] (every version), of the
    transaction table, or of ``table_id`` and ``family_name`` (the rollups); through ``client``
    (a classic ``bigtable.Client``, which keeps the emulator it was made for) or a new one."""
    from google.cloud import bigtable

    client = client or bigtable.Client(project=PROJECT, admin=True)
    table = client.instance(INSTANCE).table(table_id or resources.table)
    rows = {}
    for row in table.read_rows():
        family = row.cells.get(family_name or resources.column_family, {})
        rows[row.row_key] = {
            q: [(cell.value, (cell.timestamp - EPOCH) // ONE_MICROSECOND) for cell in cells]
            for q, cells in family.items()
        }
    return rows


def wait_for(what: str, check: Any, timeout: float = 120) -> None:
    """Poll ``check()`` every half second until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def wait_for_rows(resources: Resources, expected: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while len(read_rows(resources)) < expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expected} rows; {len(read_rows(resources))} there")
        time.sleep(0.5)


@contextmanager
def streaming_job(config: JobConfig):
    """Run the job in this process on the Python direct runner; cancel it afterwards."""
    options = PipelineOptions(["--runner=BundleBasedDirectRunner", "--streaming", f"--project={PROJECT}"])
    result = run(options, config)
    try:
        yield result
    finally:
        stopper = threading.Thread(target=result.cancel, daemon=True)
        stopper.start()
        stopper.join(timeout=30)


def pull_messages(subscription_path: str, expected: int, timeout: float = 30) -> list:
    """Pull (and ack) until ``expected`` messages arrived or ``timeout``; returns them (up to
    Pub/Sub's 10 MB each: the dead-letter tool's subscriber, whose receive limit fits them)."""
    from transactions_tools.dead_letter_lease import MAX_PULL_RESPONSE_BYTES, PULL_BATCH
    from transactions_wire.clients import pubsub_subscriber

    received: list = []
    deadline = time.monotonic() + timeout
    with pubsub_subscriber(MAX_PULL_RESPONSE_BYTES) as subscriber:
        while len(received) < expected and time.monotonic() < deadline:
            response = subscriber.pull(
                subscription=subscription_path,
                max_messages=PULL_BATCH,
                timeout=max(1, min(10, deadline - time.monotonic())),
            )
            if response.received_messages:
                subscriber.acknowledge(
                    subscription=subscription_path, ack_ids=[m.ack_id for m in response.received_messages]
                )
                received.extend(m.message for m in response.received_messages)
    return received
