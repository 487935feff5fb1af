"""The pipeline's steps in a real Beam pipeline (in-process, ``TestPipeline`` on the FnApiRunner):
ParseAndValidate tags every record as a row or a dead letter, and the step names are stable."""

import apache_beam as beam
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from tests.messages import attributes_of, encode, invalid_messages, valid_record
from transactions import attributes
from transactions.contract import parse_transaction
from transactions_pipeline.options import JobConfig
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
    config = JobConfig(
        dead_letter_topic="projects/local-project/topics/dead-letters",
        bigtable_project="local-project",
        bigtable_instance="local-instance",
        bigtable_table="transacoes",
        column_family="dados",
        input_file="/data/sales.csv",
    )
    pipeline = beam.Pipeline()
    build_pipeline(pipeline, config)
    proto = pipeline.to_runner_api()
    top_level = {
        proto.components.transforms[child].unique_name
        for root in proto.root_transform_ids
        for child in proto.components.transforms[root].subtransforms
    }
    assert top_level == {STEP_READ, STEP_PARSE, STEP_WRITE, STEP_COLLECT_DEAD_LETTERS, STEP_PUBLISH_DEAD_LETTERS}
