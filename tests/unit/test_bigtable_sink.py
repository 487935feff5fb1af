"""The Bigtable sink in a real Beam pipeline (in-process, ``TestPipeline`` on the FnApiRunner).

The generated client is replaced by a scripted stand-in (a failure mode the emulator cannot
produce: a per-entry NOT_FOUND), so these run in seconds; the sink against the real emulator is
in tests/integration. Batching is read back from the sink's own ``rows_per_write_call``
distribution, so a test sees exactly how the rows were split into calls.
"""

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import Lineage, MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.display import DisplayData
from google.cloud.bigtable_v2.types import bigtable as bigtable_types
from google.rpc import code_pb2

from transactions import attributes
from transactions_pipeline import metrics
from transactions_pipeline.bigtable_sink import WriteToBigtable, _WriteRowsFn
from transactions_pipeline.bigtable_writer import BatchLimits, BigtableTarget, RetryPolicy
from transactions_pipeline.rows import BigtableRow

TARGET = BigtableTarget("local-project", "local-instance", "transacoes", "dados", "writes")


class Source:
    """What a row carries for its dead letter (a Pub/Sub message has these two fields)."""

    def __init__(self, data: bytes, attrs: dict[str, str]) -> None:
        self.data, self.attributes = data, attrs


class ScriptedClient:
    """The generated client's ``mutate_rows``: NOT_FOUND for keys ending in ``!``, OK otherwise."""

    def __init__(self, target: BigtableTarget) -> None:
        assert target == TARGET
        self.transport = self

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
    return BigtableRow(key.encode(), values, 1_000_000, Source(f"body of {key}".encode(), {"transaction_id": key}))


def run_sink(rows: list[BigtableRow], limits: BatchLimits = BatchLimits(), expected_letters=()):
    """Run the sink, asserting its dead letters as (data, stage, reason, transaction id) equal
    ``expected_letters``; returns (the rows_per_write_call distribution, the lineage sinks)."""
    pipeline = BeamTestPipeline(runner="FnApiRunner")
    letters = (
        pipeline
        | beam.Create(rows, reshuffle=False)
        | WriteToBigtable(TARGET, limits, RetryPolicy(), client_factory=ScriptedClient)
        | beam.Map(
            lambda letter: (
                letter.data,
                letter.attributes[attributes.ERROR_STAGE],
                letter.attributes[attributes.ERROR_REASON],
                letter.attributes[attributes.TRANSACTION_ID],
            )
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
    fn = _WriteRowsFn(TARGET, BatchLimits(max_rows=500), RetryPolicy(), ScriptedClient)
    items = {item.key: item.value for item in DisplayData.create_from(fn).items}
    assert items["table"] == "projects/local-project/instances/local-instance/tables/transacoes"
    assert (items["columnFamily"], items["appProfileId"], items["maxRowsPerCall"]) == ("dados", "writes", 500)


def test_an_empty_input_makes_no_call():
    pipeline = BeamTestPipeline(runner="FnApiRunner")
    letters = pipeline | beam.Create([]) | WriteToBigtable(TARGET, client_factory=ScriptedClient)
    assert_that(letters, equal_to([]))
    result = pipeline.run()
    result.wait_until_finish()
    query = MetricsFilter().with_name(metrics.ROWS_PER_WRITE_CALL)
    assert all(d.committed.count == 0 for d in result.metrics().query(query)["distributions"])


@pytest.mark.parametrize("limits", [BatchLimits(max_rows=1), BatchLimits(max_bytes=1)])
def test_a_single_row_always_goes_even_when_it_alone_fills_a_batch(limits):
    calls, _ = run_sink([row("k1"), row("k2")], limits)
    assert (calls.count, calls.max) == (2, 1)
