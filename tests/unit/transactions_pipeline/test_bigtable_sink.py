"""The Bigtable sink in a real Beam pipeline (in-process, ``TestPipeline`` on the FnApiRunner).

The generated client is replaced by a scripted stand-in (a failure mode the emulator cannot
produce: a per-entry NOT_FOUND), so these run in seconds; the sink against the real emulator is
in tests/integration. Batching is read back from the sink's own ``rows_per_write_call``
distribution, so a test sees exactly how the rows were split into calls.
"""

from collections.abc import Iterator

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import Lineage, MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.display import DisplayData
from google.cloud.bigtable_v2.types import bigtable as bigtable_types
from google.rpc import code_pb2

from tests.bigtable_senders import generated_sender
from tests.rows import row_of
from transactions import attributes
from transactions_pipeline import metrics
from transactions_pipeline.bigtable_connection import Connection
from transactions_pipeline.bigtable_sink import WriteBigtableRows, _WriteRowsFn
from transactions_pipeline.bigtable_writer import BatchLimits, BigtableTarget, RetryPolicy
from transactions_pipeline.rows import BigtableRow

TARGET = BigtableTarget("local-project", "local-instance", "transacoes", "dados", "writes")


class Source:
    """What a row carries for its dead letter (a Pub/Sub message has these two fields)."""

    def __init__(self, data: bytes, attrs: dict[str, str]) -> None:
        self.data, self.attributes = data, attrs


class ScriptedClient:
    """The generated client's ``mutate_rows``: NOT_FOUND for keys ending in ``!``, OK otherwise.
    :meth:`connect` is the sink's connection factory: a new client for each connection."""

    @classmethod
    def connect(cls, target: BigtableTarget) -> Connection:
        assert target == TARGET
        client = cls()
        return Connection(generated_sender(client.mutate_rows), client.close)

    def __init__(self) -> None:
        self.calls = 0

    def mutate_rows(self, request, retry, timeout):
        pb = bigtable_types.MutateRowsRequest.pb(request)
        assert pb.table_name == TARGET.table_name and pb.app_profile_id == "writes"
        response = bigtable_types.MutateRowsResponse.pb()()
        for index, entry in enumerate(pb.entries):
            answer = response.entries.add(index=index)
            answer.status.code = code_pb2.NOT_FOUND if entry.row_key.endswith(b"!") else code_pb2.OK
            answer.status.message = "table or family not found"
        return iter([bigtable_types.MutateRowsResponse.wrap(response)])

    def close(self) -> None:
        pass


def row(key: str, cells: int = 1, value_size: int = 4) -> BigtableRow:
    values = tuple((f"q{c}".encode(), b"v" * value_size) for c in range(cells))
    return row_of(key.encode(), values, 1_000_000, Source(f"body of {key}".encode(), {"transaction_id": key}))


def run_sink(rows: list[BigtableRow], limits: BatchLimits = BatchLimits(), expected_letters=()):
    """Run the sink, asserting its dead letters as (data, stage, reason, transaction id) equal
    ``expected_letters``; returns (the rows_per_write_call distribution, the lineage sinks)."""
    pipeline = BeamTestPipeline(runner="FnApiRunner")
    written = (
        pipeline
        | beam.Create(rows, reshuffle=False)
        | WriteBigtableRows(TARGET, limits, RetryPolicy(), client_factory=ScriptedClient.connect)
    )
    letters = written.dead_letters | beam.Map(
        lambda letter: (
            letter.data,
            letter.attributes[attributes.ERROR_STAGE],
            letter.attributes[attributes.ERROR_REASON],
            letter.attributes[attributes.TRANSACTION_ID],
        )
    )
    assert_that(letters, equal_to(list(expected_letters)))
    result = pipeline.run()
    result.wait_until_finish()
    query = MetricsFilter().with_namespace(metrics.NAMESPACE).with_name(metrics.ROWS_PER_WRITE_CALL)
    [calls] = result.metrics().query(query)["distributions"]
    return calls.committed, Lineage.query(result.metrics(), Lineage.SINK)


def test_batches_close_at_the_row_limit():
    calls, _ = run_sink([row(f"k{i}") for i in range(25)], BatchLimits(max_rows=10))
    assert (calls.count, calls.sum, calls.min, calls.max) == (3, 25, 5, 10)


def test_batches_close_before_the_byte_limit():
    # each entry is ~1,030 bytes: two fit in 2,500, a third would not
    calls, _ = run_sink([row(f"k{i}", value_size=1000) for i in range(5)], BatchLimits(max_bytes=2500))
    assert (calls.count, calls.sum, calls.max, calls.min) == (3, 5, 2, 1)


def test_batches_close_before_the_mutation_limit():
    # three cells per row: two rows are 6 mutations, a third would make 9 > 7
    calls, _ = run_sink([row(f"k{i}", cells=3) for i in range(6)], BatchLimits(max_mutations=7))
    assert (calls.count, calls.sum, calls.max) == (3, 6, 2)


def test_rows_bigtable_refuses_come_out_as_write_dead_letters_with_their_source_bytes():
    rows = [row("k1"), row("k2!"), row("k3"), row("k4!")]
    expected = [
        (b"body of k2!", "write", "bigtable_not_found", "k2!"),
        (b"body of k4!", "write", "bigtable_not_found", "k4!"),
    ]
    calls, _ = run_sink(rows, expected_letters=expected)
    assert (calls.count, calls.sum) == (1, 4)


def test_the_table_is_reported_as_a_lineage_sink():
    _, sinks = run_sink([row("k1")])
    assert sinks == {"bigtable:local-project.local-instance.transacoes"}


def test_display_data_names_the_table_family_and_profile():
    fn = _WriteRowsFn(TARGET, BatchLimits(max_rows=500), RetryPolicy(), ScriptedClient.connect)
    items = {item.key: item.value for item in DisplayData.create_from(fn).items}
    assert items["table"] == "projects/local-project/instances/local-instance/tables/transacoes"
    assert (items["columnFamily"], items["appProfileId"], items["maxRowsPerCall"]) == ("dados", "writes", 500)


def test_an_empty_input_makes_no_call():
    pipeline = BeamTestPipeline(runner="FnApiRunner")
    letters = (
        pipeline | beam.Create([]) | WriteBigtableRows(TARGET, client_factory=ScriptedClient.connect)
    ).dead_letters
    assert_that(letters, equal_to([]))
    result = pipeline.run()
    result.wait_until_finish()
    query = MetricsFilter().with_name(metrics.ROWS_PER_WRITE_CALL)
    assert all(d.committed.count == 0 for d in result.metrics().query(query)["distributions"])


@pytest.mark.parametrize("limits", [BatchLimits(max_rows=1), BatchLimits(max_bytes=1)])
def test_a_single_row_always_goes_even_when_it_alone_fills_a_batch(limits):
    calls, _ = run_sink([row("k1"), row("k2")], limits)
    assert (calls.count, calls.max) == (2, 1)


# Throttling and freshness. The emulator never throttles, never answers UNAVAILABLE or
# RESOURCE_EXHAUSTED: these answers come from scripted clients.


class OutageThenOk(ScriptedClient):
    """Answers UNAVAILABLE to every entry of the first call of each worker, then as ScriptedClient."""

    def mutate_rows(self, request, retry, timeout):
        self.calls += 1
        if self.calls > 1:
            return super().mutate_rows(request, retry, timeout)
        pb = bigtable_types.MutateRowsRequest.pb(request)
        response = bigtable_types.MutateRowsResponse.pb()()
        for index in range(len(pb.entries)):
            response.entries.add(index=index).status.code = code_pb2.UNAVAILABLE
        return iter([bigtable_types.MutateRowsResponse.wrap(response)])


def counter(result, name: str) -> int:
    query = MetricsFilter().with_namespace(metrics.NAMESPACE).with_name(name)
    return sum(c.committed for c in result.metrics().query(query)["counters"])


def test_back_off_from_a_throttled_bigtable_is_counted_in_cumulative_throttling_seconds():
    pipeline = BeamTestPipeline(runner="FnApiRunner")
    policy = RetryPolicy(initial_backoff_seconds=2.0)  # the first wait is 1-2 s with jitter: one whole second
    letters = (
        pipeline
        | beam.Create([row(f"k{i}") for i in range(5)])
        | WriteBigtableRows(TARGET, policy=policy, client_factory=OutageThenOk.connect)
    ).dead_letters
    assert_that(letters, equal_to([]))
    result = pipeline.run()
    result.wait_until_finish()
    assert counter(result, metrics.THROTTLED_SECONDS) == 1
    assert (counter(result, metrics.WRITE_RETRIES), counter(result, metrics.WRITTEN)) == (5, 5)


def test_fractions_of_a_throttled_second_are_carried_not_lost():
    seconds = metrics.ThrottledSeconds()
    increments = []
    seconds._counter = type("Counter", (), {"inc": lambda self, n: increments.append(n)})()
    for wait in (0.4, 0.4, 0.4, 1.9, 0.0):
        seconds.add(wait)
    assert increments == [1, 2] and abs(seconds._carry - 0.1) < 1e-9


def test_a_bulk_load_throttles_itself_once_bigtable_keeps_refusing():
    """Beam's AdaptiveThrottler, as the backfill uses it: after a run of refused requests it holds
    attempts back client-side (waits of ``throttle_delay_seconds``) before the batch gives up."""
    from google.api_core import exceptions as api_exceptions

    from transactions_pipeline.bigtable_connection import adaptive_throttler
    from transactions_pipeline.bigtable_writer import BigtableBatchWriter, BigtableUnavailable

    waits: list[float] = []
    now = [0.0]

    def refuse(request, retry, timeout):
        raise api_exceptions.ResourceExhausted("quota")

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    writer = BigtableBatchWriter(
        refuse,
        TARGET,
        RetryPolicy(operation_timeout_seconds=120, initial_backoff_seconds=0.01, max_backoff_seconds=0.01),
        sleep=sleep,
        clock=lambda: now[0],
        throttler=adaptive_throttler(),
        throttle_delay_seconds=0.777,
    )
    with pytest.raises(BigtableUnavailable):
        writer.write([b"\x0a\x01k"])
    assert 0.777 in waits, "the throttler held attempts back"
    assert waits.index(0.777) > 0, "only after refusals"


def written_by(config_inputs: dict) -> _WriteRowsFn:
    """The write DoFn of the job built for these inputs."""
    from transactions_pipeline.options import JobConfig
    from transactions_pipeline.pipeline import build_pipeline

    config = JobConfig("projects/p-1234/topics/dead-letters", "p-1234", "inst-1", "t1", "dados", **config_inputs)
    pipeline = beam.Pipeline()
    build_pipeline(pipeline, config)
    applied = [pipeline._root_transform()]
    while applied:
        node = applied.pop()
        fn = getattr(node.transform, "fn", None)
        if isinstance(fn, _WriteRowsFn):
            return fn
        applied += node.parts
    raise AssertionError("no Bigtable write in the job")


def test_the_backfill_throttles_itself_and_the_stream_reports_freshness():
    backfill = written_by({"input_file": "/data/sales.csv"})
    stream = written_by({"input_subscription": "projects/p-1234/subscriptions/transacoes"})
    assert (backfill._adaptive_throttling, backfill._report_freshness) == (True, False)
    assert (stream._adaptive_throttling, stream._report_freshness) == (False, True)
    from apache_beam.io.components.adaptive_throttler import AdaptiveThrottler

    def never_sent(request: bytes, metadata: tuple, timeout: float) -> Iterator[object]:
        raise AssertionError("nothing is sent: the DoFn is only set up")

    for fn, throttled in ((backfill, True), (stream, False)):
        fn._client_factory = lambda target: Connection(send=never_sent, close=lambda: None)
        fn.setup()
        inner = getattr(fn._writer._throttler, "_throttler", None)  # behind adaptive_throttler()'s lock
        assert isinstance(inner, AdaptiveThrottler) is throttled, "the writer really gets it"
        fn.teardown()


def test_freshness_is_the_time_from_event_to_write_of_each_written_row():
    import time as clock

    pipeline = BeamTestPipeline(runner="FnApiRunner")
    five_seconds_ago = (clock.time_ns() // 1_000_000 - 5_000) * 1000
    rows = [
        row("k1")._replace(timestamp_micros=five_seconds_ago),
        row("k2!")._replace(timestamp_micros=five_seconds_ago),
    ]
    (
        pipeline
        | beam.Create(rows)
        | WriteBigtableRows(TARGET, client_factory=ScriptedClient.connect, report_freshness=True)
    )
    result = pipeline.run()
    result.wait_until_finish()
    query = MetricsFilter().with_namespace(metrics.NAMESPACE).with_name(metrics.WRITE_FRESHNESS_MS)
    [freshness] = result.metrics().query(query)["distributions"]
    assert freshness.committed.count == 1, "the row Bigtable refused is not counted"
    assert 5_000 <= freshness.committed.min < 60_000
    query = MetricsFilter().with_namespace(metrics.NAMESPACE).with_name(metrics.WRITE_FRESHNESS_MS_SUM)
    [total] = result.metrics().query(query)["counters"]
    assert total.committed == freshness.committed.sum, "the counter a window's mean is built from"
