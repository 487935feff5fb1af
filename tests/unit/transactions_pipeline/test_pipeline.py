"""The pipeline's steps in a real Beam pipeline (in-process, ``TestPipeline`` on the FnApiRunner):
ParseAndValidate tags every record as a row or a dead letter, and the step names are stable."""

import apache_beam as beam
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.job_config import local_job_config
from tests.messages import attributes_of, encode, invalid_messages, valid_record
from transactions import attributes
from transactions.contract import parse_transaction
from transactions_pipeline.pipeline import (
    DEAD_LETTERS,
    ROWS,
    STEP_COLLECT_DEAD_LETTERS,
    STEP_PARSE,
    STEP_PUBLISH_DEAD_LETTERS,
    STEP_READ,
    STEP_WRITE,
    build_pipeline,
    parse_and_validate,
)
from transactions_pipeline.rows import to_row


def test_parse_and_validate_tags_each_record_as_a_row_or_a_dead_letter_with_its_reason():
    records = [valid_record(i) for i in range(5)]
    invalid = invalid_messages()
    messages = [PubsubMessage(encode(r), attributes_of(r)) for r in records] + [
        PubsubMessage(data, {"transaction_id": f"bad-{i}"}) for i, (data, _, _) in enumerate(invalid)
    ]
    expected_rows = [
        (row.row_key, row.cells, row.timestamp_micros)
        for row in (to_row(parse_transaction(message.data), message) for message in messages[: len(records)])
    ]
    expected_letters = [(data, stage, reason, f"bad-{i}") for i, (data, stage, reason) in enumerate(invalid)]

    pipeline = BeamTestPipeline(runner="FnApiRunner")
    parsed = parse_and_validate(pipeline | beam.Create(messages, reshuffle=False))
    rows = parsed[ROWS] | "RowParts" >> beam.Map(lambda row: (row.row_key, row.cells, row.timestamp_micros))
    letters = parsed[DEAD_LETTERS] | "LetterParts" >> beam.Map(
        lambda letter: (
            letter.data,
            letter.attributes[attributes.ERROR_STAGE],
            letter.attributes[attributes.ERROR_REASON],
            letter.attributes[attributes.TRANSACTION_ID],
        )
    )
    assert_that(rows, equal_to(expected_rows), label="rows")
    assert_that(letters, equal_to(expected_letters), label="dead letters")
    pipeline.run().wait_until_finish()


def test_a_valid_row_keeps_its_source_message_for_a_later_write_dead_letter():
    record = valid_record(1)
    message = PubsubMessage(encode(record), attributes_of(record))
    pipeline = BeamTestPipeline(runner="FnApiRunner")
    parsed = parse_and_validate(pipeline | beam.Create([message]))
    sources = parsed[ROWS] | beam.Map(lambda row: (row.source.data, row.source.attributes))
    assert_that(sources, equal_to([(message.data, message.attributes)]))
    pipeline.run().wait_until_finish()


def test_the_backfill_has_the_stable_step_names():
    config = local_job_config(input_file="/data/sales.csv")
    pipeline = beam.Pipeline()
    build_pipeline(pipeline, config)
    proto = pipeline.to_runner_api()
    top_level = {
        proto.components.transforms[child].unique_name
        for root in proto.root_transform_ids
        for child in proto.components.transforms[root].subtransforms
    }
    assert top_level == {STEP_READ, STEP_PARSE, STEP_WRITE, STEP_COLLECT_DEAD_LETTERS, STEP_PUBLISH_DEAD_LETTERS}


FORGOTTEN_AT_MS = 1_764_740_000_000
FORGOTTEN = {"ana": FORGOTTEN_AT_MS}


def forgotten_table(target):
    """A connection to a forgotten table holding :data:`FORGOTTEN` (module level: Beam pickles it)."""
    from transactions import forgotten
    from transactions_pipeline.bigtable_connection import Connection

    def scan(after, row_filter, timeout):
        for user, at_ms in sorted(FORGOTTEN.items()):
            yield forgotten.row_key(user), [(forgotten.FAMILY, forgotten.COLUMN, forgotten.request_value(at_ms))]

    return Connection(send=lambda *args: iter(()), close=lambda: None, scan=scan)


def forgotten_list():
    from transactions_pipeline.bigtable_writer import BigtableTarget
    from transactions_pipeline.forgotten_list import ForgottenList

    view = ForgottenList(BigtableTarget("p", "i", "transacoes_forgotten", "forgotten"), 60)
    view._client_factory = forgotten_table
    return view


def test_a_forgotten_users_old_records_are_neither_written_nor_dead_lettered_and_are_counted(caplog):
    """Ana asked to be forgotten: her transactions up to the request, and a broken record naming
    her, go nowhere (counted, logged by transaction id alone); her purchase after the request, and
    everyone else's records, go where they always went."""
    import logging

    from apache_beam.metrics.metric import MetricsFilter

    from tests.messages import event_time

    def message(record):
        return PubsubMessage(encode(record), attributes_of(record))

    before, after = event_time(FORGOTTEN_AT_MS - 3_600_000), event_time(FORGOTTEN_AT_MS + 1)
    old = [valid_record(i, user_id="ana", transaction_id=f"ana-old-{i}", event_time=before) for i in range(3)]
    at_request = valid_record(3, user_id="ana", transaction_id="ana-at", event_time=event_time(FORGOTTEN_AT_MS))
    new = valid_record(4, user_id="ana", transaction_id="ana-new", event_time=after)
    others = [valid_record(i, user_id="bo", transaction_id=f"bo-{i}", event_time=before) for i in range(2)]
    broken_ana = valid_record(5, user_id="ana", transaction_id="ana-broken", price="abc")
    broken_bo = valid_record(6, user_id="bo", transaction_id="bo-broken", price="abc")
    messages = [message(r) for r in [*old, at_request, new, *others, broken_ana, broken_bo]]

    pipeline = BeamTestPipeline(runner="FnApiRunner")
    parsed = parse_and_validate(pipeline | beam.Create(messages, reshuffle=False), forgotten=forgotten_list())
    written = parsed[ROWS] | "Ids" >> beam.Map(lambda row: row.sale.transaction_id)
    letters = parsed[DEAD_LETTERS] | "LetterIds" >> beam.Map(lambda letter: letter.attributes["transaction_id"])
    assert_that(written, equal_to(["ana-new", "bo-0", "bo-1"]), label="written")
    assert_that(letters, equal_to(["bo-broken"]), label="dead letters")
    with caplog.at_level(logging.INFO, logger="transactions_pipeline.pipeline"):
        result = pipeline.run()
        result.wait_until_finish()

    def counter(name):
        [found] = result.metrics().query(MetricsFilter().with_name(name))["counters"]
        return found.committed

    assert {name: counter(name) for name in ("read", "valid", "invalid", "forgotten_user")} == {
        "read": 9,
        "valid": 3,
        "invalid": 1,
        "forgotten_user": 5,
    }, "read = valid + invalid + forgotten_user"
    logged = [r.getMessage() for r in caplog.records if "forgotten" in r.getMessage()]
    assert sorted(logged) == sorted(
        f"not written: transaction '{txid}' of a user who asked to be forgotten"
        for txid in ("ana-old-0", "ana-old-1", "ana-old-2", "ana-at", "ana-broken")
    ), "the transaction id, and nothing of the user's data"


def test_a_backfill_lines_forgotten_record_is_logged_by_its_own_id():
    from transactions_pipeline.pipeline import transaction_id_of

    line = PubsubMessage(b"ana,P1", {attributes.SOURCE_FILE: "gs://b/sales.csv", attributes.SOURCE_OFFSET: "120"})
    assert transaction_id_of(line).startswith("csv-") and transaction_id_of(line).endswith(":120")
    assert transaction_id_of(PubsubMessage(b"{}", {})) == "unknown"


def test_both_steps_that_read_the_forgotten_list_share_one(monkeypatch):
    """One ``ForgottenList`` (one ``Shared`` key) for the parse step and the rollups' sink: one copy
    of the list, and one read per refresh, per worker process."""
    from transactions_pipeline import pipeline as pipeline_module
    from transactions_pipeline import rollup_sink

    given: dict[str, object] = {}
    parse_init, sink_init = pipeline_module.ParseAndValidateFn.__init__, rollup_sink._WriteRollupsFn.__init__

    def parse_spy(self, parse=pipeline_module.parse_message, forgotten=None):
        given["parse"] = forgotten
        parse_init(self, parse, forgotten)

    def sink_spy(self, *args, **kwargs):
        given["rollups"] = kwargs.get("forgotten", args[5] if len(args) > 5 else None)
        sink_init(self, *args, **kwargs)

    monkeypatch.setattr(pipeline_module.ParseAndValidateFn, "__init__", parse_spy)
    monkeypatch.setattr(rollup_sink._WriteRollupsFn, "__init__", sink_spy)
    config = local_job_config(
        input_subscription="projects/local-project/subscriptions/s",
        rollups_table="transacoes_rollups",
        forgotten_table="transacoes_forgotten",
    )
    build_pipeline(beam.Pipeline(options=beam.options.pipeline_options.PipelineOptions(["--streaming"])), config)
    assert given["parse"] is not None and given["parse"] is given["rollups"]
