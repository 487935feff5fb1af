"""The job against a misbehaving Bigtable: the fault-injecting proxy in front of the emulator.

The emulator alone cannot refuse some entries of a call while writing the others, cut a response
stream halfway or be slow; ``transactions_tools.local.fault_proxy`` makes it do so, and these tests
run the real streaming job (the Python direct runner, in this process) and the real backfill
through it. A busy cluster must never turn a valid row into a dead letter: every row is written
with exact cells, no write dead letter is published, and the job stays up.
"""

import re
import time

import grpc
import pytest

from tests.integration.harness import (
    job_config,
    provision_for_test,
    publish,
    pull_dead_letters,
    read_rows,
    streaming_job,
)
from tests.integration.test_pipeline_emulators import expected_rows
from tests.messages import attributes_of, encode, valid_record
from transactions_tools.local.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.integration

FAULT_SECONDS = 15
MESSAGES = 300


@pytest.fixture
def proxy(emulators, monkeypatch):
    """The proxy in front of the emulator; the clients made while it is up (the job's) go through it."""
    started = FaultProxy(emulators.bigtable_host).start()
    monkeypatch.setenv("BIGTABLE_EMULATOR_HOST", started.address)
    try:
        yield started
    finally:
        started.stop()


def _wait_for_rows_through_the_emulator(resources, emulators, monkeypatch, expected: int, timeout: float = 120) -> dict:
    """Read what reached the emulator itself (not through the proxy), until ``expected`` rows are there."""
    with monkeypatch.context() as direct:
        direct.setenv("BIGTABLE_EMULATOR_HOST", emulators.bigtable_host)
        deadline = time.monotonic() + timeout
        while True:
            rows = read_rows(resources)
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(1)


CASES = {
    "unavailable entries": Fault("entries", grpc.StatusCode.UNAVAILABLE, share=0.3),
    "resource_exhausted entries": Fault("entries", grpc.StatusCode.RESOURCE_EXHAUSTED, share=0.3),
    "deadline_exceeded entries": Fault("entries", grpc.StatusCode.DEADLINE_EXCEEDED, share=0.3),
    "aborted entries": Fault("entries", grpc.StatusCode.ABORTED, share=0.3),
    "a stream cut after half the entries": Fault("cut", share=0.5),
}


@pytest.mark.parametrize("case", CASES)
def test_the_stream_writes_every_row_through_a_busy_cluster(emulators, unique, proxy, monkeypatch, case):
    resources = provision_for_test(unique)
    records = [valid_record(i, transaction_id=f"chaos:{i:06d}") for i in range(MESSAGES)]
    proxy.inject(CASES[case], seconds=FAULT_SECONDS)
    with streaming_job(job_config(resources)) as job:
        for start in range(0, MESSAGES, 50):  # about 10 s of traffic, inside the fault's window
            publish(resources, [(encode(r), attributes_of(r)) for r in records[start : start + 50]])
            time.sleep(1.5)
        rows = _wait_for_rows_through_the_emulator(resources, emulators, monkeypatch, MESSAGES)
        assert str(job.state) in ("RUNNING", "PipelineState.RUNNING"), job.state
    injected = dict(proxy.stats)
    assert rows == expected_rows(records), injected
    assert pull_dead_letters(resources, 1, timeout=3) == [], injected
    if CASES[case].kind == "entries":
        assert injected[f"entries failed {CASES[case].code.name}"] > 0.15 * MESSAGES, injected
    else:
        assert injected["streams cut"] > 0 and injected["entries unanswered"] > 0, injected


def test_a_fault_that_outlasts_the_operation_deadline_fails_bundles_that_are_retried_and_lose_nothing(
    emulators, unique, proxy, monkeypatch, caplog
):
    """Every entry refused for longer than a batch may wait (an operation deadline of 2 s here):
    the writer fails the bundle (nothing of it acknowledged), the runner retries it, and once the
    fault ends every row is written and none is dead-lettered. Dataflow retries a stream's bundle
    until it succeeds; the direct runner up to four times, which is why the fault ends 3 s after
    its first refusal."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from transactions_pipeline.bigtable_sink import WriteBigtableRows
    from transactions_pipeline.bigtable_writer import RetryPolicy
    from transactions_pipeline.dead_letter_sink import PublishDeadLetters
    from transactions_pipeline.pipeline import ROWS, bigtable_target, parse_and_validate

    resources = provision_for_test(unique)
    config = job_config(resources)
    records = [valid_record(i, transaction_id=f"deadline:{i:06d}") for i in range(60)]
    policy = RetryPolicy(operation_timeout_seconds=2, attempt_timeout_seconds=1, max_backoff_seconds=0.5)
    pipeline = beam.Pipeline(
        options=PipelineOptions(["--runner=BundleBasedDirectRunner", "--streaming", "--project=local-project"])
    )
    messages = pipeline | beam.io.ReadFromPubSub(subscription=config.input_subscription, with_attributes=True)
    parsed = parse_and_validate(messages)
    failures = (parsed[ROWS] | WriteBigtableRows(bigtable_target(config), policy=policy)).dead_letters
    failures | PublishDeadLetters(config.dead_letter_topic)
    result = pipeline.run()
    try:
        proxy.inject(Fault("entries", grpc.StatusCode.UNAVAILABLE, share=1.0), seconds=300)
        publish(resources, [(encode(r), attributes_of(r)) for r in records])
        deadline = time.monotonic() + 60
        while not proxy.stats["entries failed UNAVAILABLE"] and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3)
        proxy.clear()
        rows = _wait_for_rows_through_the_emulator(resources, emulators, monkeypatch, len(records), timeout=90)
        assert str(result.state) in ("RUNNING", "PipelineState.RUNNING"), result.state
    finally:
        result.cancel()
    assert rows == expected_rows(records)
    assert pull_dead_letters(resources, 1, timeout=3) == []
    assert proxy.stats["entries failed UNAVAILABLE"] > 0, dict(proxy.stats)
    failed_bundles = [r for r in caplog.records if "BigtableUnavailable" in r.getMessage()]
    assert failed_bundles, "no bundle failed: the fault did not outlast the deadline"


def test_the_backfill_writes_every_row_through_a_busy_cluster(emulators, unique, proxy, monkeypatch, tmp_path):
    from tests.integration.test_backfill_emulator import GOOD, HEADER, backfill_args
    from transactions_pipeline.launch import main
    from transactions_tools.digest import table_digest

    lines = [HEADER] + [GOOD[i % 4].replace("12de933f", f"u{i:07d}") for i in range(500)]
    path = tmp_path / "sales.csv"
    path.write_text("\n".join(lines) + "\n")
    calm, busy = provision_for_test(f"{unique}calm"), provision_for_test(f"{unique}busy")
    with monkeypatch.context() as direct:
        direct.setenv("BIGTABLE_EMULATOR_HOST", emulators.bigtable_host)
        assert main(backfill_args(calm, str(path))) == 0
    proxy.inject(Fault("entries", grpc.StatusCode.UNAVAILABLE, share=0.3), seconds=FAULT_SECONDS)
    proxy.inject(Fault("cut", share=0.5), seconds=FAULT_SECONDS)
    assert main(backfill_args(busy, str(path))) == 0
    assert proxy.stats["entries failed UNAVAILABLE"] > 0 and proxy.stats["streams cut"] > 0, dict(proxy.stats)
    with monkeypatch.context() as direct:
        direct.setenv("BIGTABLE_EMULATOR_HOST", emulators.bigtable_host)
        assert table_digest(busy.table) == table_digest(calm.table)
        assert table_digest(busy.table)[0] == 500
    assert pull_dead_letters(busy, 1, timeout=3) == []


@pytest.mark.xdist_group("shared-topics")  # tests/conftest.py, "Parallel workers"
def test_make_chaos_runs_its_scenario_and_reports_nothing_lost(emulators, tmp_path):
    """``make chaos --read-faults``'s command, smaller: its own job (with rollups) and proxy on the
    emulators, refused and cut reads as well as writes, a report, exit 0."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [
            *(sys.executable, "-m", "transactions_tools.local.chaos"),
            *("--messages", "120", "--fault-seconds", "15", "--read-faults", "--log-dir", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "written         120 rows" in done.stdout and "dead-lettered   0" in done.stdout
    assert "OK: every valid row written, no write dead letter" in done.stdout
    windows = re.search(r"rollups         (\d+) of (\d+) windows equal to the rows' totals", done.stdout)
    assert windows and windows.group(1) == windows.group(2) and int(windows.group(2)) > 0, done.stdout[-3000:]
    refused = re.search(r"rollup reads refused RESOURCE_EXHAUSTED\s+(\d+)", done.stdout)
    assert refused is not None, done.stdout[-3000:]
    assert int(refused.group(1)) > 0
