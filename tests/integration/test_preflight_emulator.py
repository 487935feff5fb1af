"""Launch checks against the real emulators: a job that cannot work never starts.

The emulators answer UNIMPLEMENTED to IAM permission tests and have no instance admin API, so
here the checks fall back to existence, and an app profile is not checked (both logged);
tests/unit/transactions_pipeline/test_preflight.py plays the service's IAM answers.
"""

import subprocess
import sys
import time

import pytest

from tests.integration.harness import INSTANCE, PROJECT, provision_for_test
from transactions.kaggle import HEADER

pytestmark = pytest.mark.integration


def launch(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "transactions_pipeline.launch", "--runner=DirectRunner", f"--project={PROJECT}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, time.monotonic() - started


def stream_args(resources, **overrides) -> list[str]:
    values = {
        "input_subscription": resources.subscription_path(resources.subscription),
        "dead_letter_topic": resources.topic_path(resources.dead_letter_topic),
        "bigtable_instance": INSTANCE,
        "bigtable_table": resources.table,
        **overrides,
    }
    return [f"--{name}={value}" for name, value in values.items()]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"input_subscription": "projects/local-project/subscriptions/no-such-subscription"},
            "error: --input_subscription: projects/local-project/subscriptions/no-such-subscription does not exist",
        ),
        (
            {"dead_letter_topic": "projects/local-project/topics/no-such-topic"},
            "error: --dead_letter_topic: projects/local-project/topics/no-such-topic does not exist",
        ),
        (
            {"bigtable_table": "no-such-table"},
            "error: --bigtable_table: table projects/local-project/instances/local-instance/tables/no-such-table does not exist",
        ),
        (
            {"column_family": "nope"},
            "error: --column_family: table projects/local-project/instances/local-instance/tables/",
        ),
        (
            {"rollups_table": "no-such-rollups"},
            "error: --rollups_table: table projects/local-project/instances/local-instance/tables/no-such-rollups "
            "does not exist; create it with family 'agg'",
        ),
    ],
)
def test_a_missing_resource_stops_the_launch_within_seconds_with_one_line(emulators, unique, override, message):
    resources = provision_for_test(unique)
    done, elapsed = launch(*stream_args(resources, **override))
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert elapsed < 60, f"the launch took {elapsed:.0f}s to give up"


def test_a_backfill_whose_file_is_not_the_kaggle_format_stops_at_launch(emulators, unique, tmp_path):
    resources = provision_for_test(unique)
    (tmp_path / "good.csv").write_text(",".join(HEADER) + "\n")
    (tmp_path / "other.csv").write_text("id,name\n1,x\n")
    args = stream_args(resources)[1:]  # no subscription
    done, _ = launch(f"--input_file={tmp_path}/*.csv", *args)
    assert done.returncode == 2
    assert f"error: --input_file: {tmp_path}/other.csv: unrecognised header; expected User_ID," in done.stderr


def test_a_rollups_table_without_the_agg_family_stops_the_launch(emulators, unique):
    resources = provision_for_test(unique)
    done, _ = launch(*stream_args(resources, rollups_table=resources.table))  # the transactions' table
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr[-2000:]
    assert errors[0].startswith(f"error: --rollups_table: table projects/local-project/instances/local-instance/"
                                f"tables/{resources.table} has no column family 'agg' (families: dados)")  # fmt: skip
