"""Streaming latency: publish -> row in Bigtable, with the local streaming job at a steady rate.

The job runs as ``make up`` and ``make demo`` run it (the Python direct runner, which pulls at
most 10 messages per request: ``docs/local-runner.md``); the producer publishes at a fixed
rate; an observer scans the table every ``POLL_SECONDS`` and stamps each row when it first sees
it. A row's latency is that moment minus its event time (the producer's publish time, in the row
key), so each figure is an upper bound, late by up to one poll. A second phase publishes as fast
as possible and reports the rows/s the local runner sustains: its cap, not Dataflow's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from producer.stats import percentile
from transactions_tools import defaults
from transactions_tools.local import processes
from transactions_tools.local.commands import pipeline_command, producer_command
from transactions_tools.local.observer import Observer
from transactions_tools.provision import Resources, provision

POLL_SECONDS = 0.2


def _wait_for(observer: Observer, expected: int, pipeline, log_path: Path, timeout: float) -> float:
    """Poll until ``expected`` rows are seen; return the moment the last one was."""
    deadline = time.monotonic() + timeout
    while observer.written < expected:
        if pipeline.poll() is not None:
            raise RuntimeError(f"the pipeline died; see {log_path}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {observer.written} of {expected} rows after {timeout:.0f}s; see {log_path}")
        observer.poll()
        time.sleep(POLL_SECONDS)
    return time.time()


def run(rate: float, seconds: float, burst: int, log_dir: Path, log=print) -> dict[str, float]:
    suffix = time.strftime("%H%M%S")
    resources = Resources(
        project=defaults.PROJECT,
        instance=defaults.INSTANCE,
        table=f"bench_latency_{suffix}",
        topic=f"bench-latency-{suffix}",
        subscription=f"bench-latency-{suffix}",
        dead_letter_topic=f"bench-latency-dl-{suffix}",
        dead_letter_subscription=f"bench-latency-dl-{suffix}",
    )
    provision(resources, log=lambda _: None)
    steady = int(rate * seconds)
    log(f"latency: streaming job on the direct runner, {steady} messages at {rate:.0f}/s, then {burst} at full speed")
    env = os.environ.copy()
    pipeline_log, producer_log = log_dir / "latency-pipeline.log", log_dir / "latency-producer.log"
    pipeline = processes.spawn(pipeline_command(resources), pipeline_log, env, append=False)
    producer = None
    try:
        observer = Observer(resources)
        time.sleep(8)  # the job starts pulling
        producer_args = producer_command(resources.topic_path(resources.topic), "--loop", "--report-every", "60")
        producer = processes.spawn(
            [*producer_args, "--rate", str(rate), "--limit", str(steady), "--run-id", "steady"],
            producer_log,
            env,
            append=False,
        )
        _wait_for(observer, steady, pipeline, pipeline_log, timeout=seconds * 3 + 60)
        latencies = list(observer.latencies)
        producer.wait(timeout=60)
        started = time.time()
        producer = processes.spawn(
            [*producer_args, "--rate", "0", "--limit", str(burst), "--run-id", "burst"], producer_log, env
        )
        finished = _wait_for(observer, steady + burst, pipeline, pipeline_log, timeout=burst / 20 + 120)
    finally:
        processes.stop([producer, pipeline], grace_seconds=15)
    if observer.dead_lettered:
        raise RuntimeError(f"{observer.dead_lettered} dead letters in a run of valid messages; see {pipeline_log}")
    result = {
        "rate": rate,
        "messages": steady,
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "burst": burst,
        "burst_rows_per_second": burst / (finished - started),
    }
    log(
        f"  p50 {result['p50']:.2f}s  p95 {result['p95']:.2f}s  p99 {result['p99']:.2f}s  "
        f"(poll {POLL_SECONDS}s); local cap {result['burst_rows_per_second']:.0f} rows/s"
    )
    return result
