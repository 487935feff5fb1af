"""Assemble the streaming job under stable step names.

The step names below are the update-compatibility contract of a running streaming job
(``--update`` maps old steps to new ones by name): rename one only with a transform mapping.
Everything runs in one fused stage, with no shuffle between the read and the write, so that
Dataflow acknowledges a Pub/Sub message only after its row is written or its dead letter
published.
"""

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from template.bigtable_row import to_row
from template.bigtable_writer import BigtableTarget, WriteToBigtable
from template.contract import InvalidMessage, parse_transaction
from template.dead_letters import PublishDeadLetters, dead_letter
from template.metrics import METRICS_NAMESPACE, CounterFamily
from template.options import JobConfig, choose_local_runner

DEAD_LETTERS = "dead_letters"
ROWS = "rows"

# Stable step names: the update-compatibility contract.
STEP_READ = "ReadTransactions"
STEP_PARSE = "ParseAndValidate"
STEP_WRITE = "WriteToBigtable"
STEP_COLLECT_DEAD_LETTERS = "CollectDeadLetters"
STEP_PUBLISH_DEAD_LETTERS = "PublishDeadLetters"
DEDUPLICATION_ATTRIBUTE = "transaction_id"


class ParseAndValidateFn(beam.DoFn):
    """Message -> :class:`BigtableRow`, or a dead letter tagged ``dead_letters``.

    Never raises on a bad message: every rejection becomes a dead letter with its reason.
    """

    def __init__(self) -> None:
        self._read = Metrics.counter(METRICS_NAMESPACE, "read")
        self._valid = Metrics.counter(METRICS_NAMESPACE, "valid")
        self._invalid = Metrics.counter(METRICS_NAMESPACE, "invalid")
        self._invalid_by_reason = CounterFamily("invalid_")

    def process(self, message):
        self._read.inc()
        try:
            transaction = parse_transaction(message.data)
        except InvalidMessage as error:
            self._invalid.inc()
            self._invalid_by_reason[error.reason].inc()
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTERS,
                dead_letter(message.data, message.attributes, error.stage, error.reason, error.detail),
            )
            return
        self._valid.inc()
        yield to_row(transaction, message)


def build_pipeline(pipeline: beam.Pipeline, config: JobConfig) -> None:
    """Add the job's steps to ``pipeline``: read, parse, write, dead letters."""
    options = pipeline.options
    on_dataflow = options.view_as(StandardOptions).runner in ("DataflowRunner", "TestDataflowRunner")
    messages = pipeline | STEP_READ >> beam.io.ReadFromPubSub(
        subscription=config.input_subscription,
        with_attributes=True,
        # Dataflow deduplicates redeliveries by this attribute; the Python direct runner
        # does not support id_label. Cell timestamps make redelivery harmless anyway.
        id_label=DEDUPLICATION_ATTRIBUTE if on_dataflow else None,
    )
    write_dead_letters = write_rows(messages, config)
    write_dead_letters | STEP_PUBLISH_DEAD_LETTERS >> PublishDeadLetters(config.dead_letter_topic)


def write_rows(messages, config: JobConfig):
    """Parse, validate and write ``messages``; return every dead letter (parse and write)."""
    parsed = messages | STEP_PARSE >> beam.ParDo(ParseAndValidateFn()).with_outputs(DEAD_LETTERS, main=ROWS)
    target = BigtableTarget(
        project=config.bigtable_project,
        instance=config.bigtable_instance,
        table=config.bigtable_table,
        column_family=config.column_family,
        app_profile_id=config.bigtable_app_profile,
    )
    write_failures = parsed[ROWS] | STEP_WRITE >> WriteToBigtable(target)
    return (parsed[DEAD_LETTERS], write_failures) | STEP_COLLECT_DEAD_LETTERS >> beam.Flatten()


def run(options: PipelineOptions, config: JobConfig):
    """Build and start the job; returns the runner's result (the caller decides to wait).

    The job is always streaming; a local runner is chosen only after that is set, so that
    ``--runner=DirectRunner`` without ``--streaming`` still gets the streaming direct runner.
    """
    options.view_as(StandardOptions).streaming = True
    choose_local_runner(options)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, config)
    return pipeline.run()
