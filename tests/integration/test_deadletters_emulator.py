"""The dead-letter story, end to end on the emulators, with the job running:

a column family disappears while 20 valid messages and 1 broken one arrive (20 ``write`` dead
letters, 1 ``validate``); ``inspect`` reports exactly that and consumes nothing; the family comes
back; ``replay --stage write`` republishes the 20, which become exactly the 20 rows; the
``validate`` one stays; replaying again does nothing; replaying a message whose row exists
changes nothing.
"""

import json
import os
import subprocess
import sys
import time

import pytest
from google.cloud import bigtable

from tests.integration.harness import (
    INSTANCE,
    PROJECT,
    job_config,
    provision_for_test,
    publish,
    read_rows,
    streaming_job,
    wait_for_rows,
)
from tests.integration.test_pipeline_emulators import expected_rows
from tests.messages import attributes_of, encode, valid_record
from transactions.dead_letters import dead_letter

pytestmark = pytest.mark.integration


def tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "transactions_tools.triage", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def inspect(subscription: str) -> dict:
    done = tool("inspect", "--subscription", subscription, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_for_dead_letters(subscription: str, expected: int, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        summary = inspect(subscription)
        if summary["pulled"] >= expected or time.monotonic() > deadline:
            return summary
        time.sleep(1)


def test_inspect_then_replay_the_write_dead_letters_after_the_family_comes_back(emulators, unique):
    resources = provision_for_test(unique)
    dead_letters = resources.subscription_path(resources.dead_letter_subscription)
    topic = resources.topic_path(resources.topic)
    table = bigtable.Client(project=PROJECT, admin=True).instance(INSTANCE).table(resources.table)
    records = [valid_record(i) for i in range(20)]
    broken = valid_record(99, price="abc")

    with streaming_job(job_config(resources)):
        table.column_family(resources.column_family).delete()
        publish(resources, [(encode(r), attributes_of(r)) for r in [*records, broken]])

        summary = wait_for_dead_letters(dead_letters, 21)
        assert summary["pulled"] == 21
        assert summary["by_stage_and_reason"] == {"write/bigtable_internal": 20, "validate/bad_price": 1}
        assert summary["oldest_failed_at"] <= summary["newest_failed_at"]
        assert len(summary["samples"]["write/bigtable_internal"]) == 3
        assert 'unknown family "dados"' in summary["samples"]["write/bigtable_internal"][0]["detail"]
        assert inspect(dead_letters)["pulled"] == 21, "inspect consumed nothing"
        assert read_rows(resources) == {}

        table.column_family(resources.column_family).create()
        done = tool("replay", "--subscription", dead_letters, "--topic", topic, "--stage", "write")
        assert done.returncode == 0, done.stderr
        assert "replayed          20" in done.stdout and "left               1" in done.stdout
        assert "refused            0" in done.stdout and "failed             0" in done.stdout
        wait_for_rows(resources, 20)
        assert read_rows(resources) == expected_rows(records)  # exact cells, one version each

        assert inspect(dead_letters)["by_stage_and_reason"] == {"validate/bad_price": 1}
        again = tool("replay", "--subscription", dead_letters, "--topic", topic, "--stage", "write")
        assert again.returncode == 0 and "replayed           0" in again.stdout

        # A dead letter whose row already exists: replaying it rewrites the very same cells.
        letter = dead_letter(encode(records[0]), attributes_of(records[0]), "write", "bigtable_unavailable", "test")
        publish_to_dead_letters(resources, letter)
        wait_for_dead_letters(dead_letters, 2)
        done = tool("replay", "--subscription", dead_letters, "--topic", topic, "--stage", "write")
        assert "replayed           1" in done.stdout
        sentinel = valid_record(50)
        publish(resources, [(encode(sentinel), attributes_of(sentinel))])  # published after the replay
        wait_for_rows(resources, 21)
        assert read_rows(resources) == expected_rows([*records, sentinel])
        assert inspect(dead_letters)["by_stage_and_reason"] == {"validate/bad_price": 1}


def publish_to_dead_letters(resources, letter) -> None:
    from google.cloud import pubsub_v1

    topic = resources.topic_path(resources.dead_letter_topic)
    pubsub_v1.PublisherClient().publish(topic, letter.data, **letter.attributes).result(timeout=30)


def test_an_unreachable_pub_sub_or_a_missing_subscription_is_exit_code_3(emulators):
    missing = tool("inspect", "--subscription", f"projects/{PROJECT}/subscriptions/no-such-subscription")
    assert missing.returncode == 3
    assert (
        missing.stderr.strip()
        == f"error: subscription projects/{PROJECT}/subscriptions/no-such-subscription does not exist"
    )
    down = subprocess.run(
        [
            sys.executable,
            "-m",
            "transactions_tools.triage",
            "inspect",
            "--subscription",
            f"projects/{PROJECT}/subscriptions/any-one",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PUBSUB_EMULATOR_HOST": "127.0.0.1:9"},
    )
    assert down.returncode == 3 and down.stderr.startswith(
        "error: cannot reach Pub/Sub at 127.0.0.1:9: ServiceUnavailable: "
    )
    assert down.stderr.count("\n") == 1
