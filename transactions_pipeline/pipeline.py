"""Assemble the job under stable step names: a stream from Pub/Sub, or a backfill from CSV.

The step names below are the update-compatibility contract of a running streaming job
(``--update`` maps old steps to new ones by name): rename one only with a transform mapping.
In the stream everything runs in one fused stage, with no shuffle between the read and the
write, so that Dataflow acknowledges a Pub/Sub message only after its row is written or its
dead letter published. The backfill uses the same step names, validation, writer and dead
letters; only ``ReadTransactions`` differs.
"""

# Annotations stay text: Beam would read a DoFn's as the element types of its outputs (and
# choose their coders by them), so these are for mypy alone, as in every module of the job.
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.pvalue import DoOutputsTuple, TaggedOutput
from apache_beam.runners.runner import PipelineResult

from transactions import attributes, forgotten, rollup_layout
from transactions.contract import InvalidMessage, Transaction, parse_transaction
from transactions.dead_letters import DeadLetter, dead_letter
from transactions.excerpt import excerpt
from transactions.forgotten import ForgottenUsers, named_user
from transactions.messages import backfill_transaction_id
from transactions_pipeline import metrics, rollup_sink, rollups
from transactions_pipeline.backfill import ReadCsvLines, parse_csv_line
from transactions_pipeline.bigtable_sink import WriteBigtableRows, WriteResult
from transactions_pipeline.bigtable_writer import BigtableTarget
from transactions_pipeline.dead_letter_sink import PublishDeadLetters
from transactions_pipeline.forgotten_list import ForgottenList
from transactions_pipeline.options import JobConfig, choose_local_runner
from transactions_pipeline.rows import BigtableRow, Sale, SourceMessage, to_row

_LOG = logging.getLogger(__name__)

DEAD_LETTERS = "dead_letters"
ROWS = "rows"

# Stable step names: the update-compatibility contract.
STEP_READ = "ReadTransactions"
STEP_PARSE = "ParseAndValidate"
STEP_WRITE = "WriteToBigtable"
STEP_COLLECT_DEAD_LETTERS = "CollectDeadLetters"
STEP_PUBLISH_DEAD_LETTERS = "PublishDeadLetters"
DEDUPLICATION_ATTRIBUTE = attributes.TRANSACTION_ID

Parse = Callable[[SourceMessage], Transaction]
"""A source record (a Pub/Sub message, a CSV line) as a validated transaction, or InvalidMessage."""
WrittenSales = tuple[tuple[Sale, int | None], ...]
"""An element of the sink's ``written`` output: a settled batch's written sales, each with its
arrival ms (None for a CSV line)."""


def parse_message(message: SourceMessage) -> Transaction:
    """A Pub/Sub message's body as a validated transaction (see :func:`parse_transaction`)."""
    return parse_transaction(message.data)


class ParseAndValidateFn(beam.DoFn):
    """Source record -> :class:`BigtableRow`, or a dead letter tagged ``dead_letters``.

    ``parse`` turns a record (a Pub/Sub message, or a CSV line; both have ``data`` and
    ``attributes``) into a transaction. Never raises on a bad record: every rejection becomes a
    dead letter with its reason and the record's original bytes. With a ``forgotten`` list, a
    record of a user who asked to be forgotten, older than the request, becomes neither: it is
    counted in ``forgotten_user`` and only its transaction id is logged (``transactions.forgotten``).
    This runs once per message, so the counts are kept per bundle and added to the counters when
    it ends.
    """

    def __init__(self, parse: Parse = parse_message, forgotten: ForgottenList | None = None) -> None:
        self._parse = parse
        self._forgotten_list = forgotten
        self._read = Metrics.counter(metrics.NAMESPACE, metrics.READ)
        self._valid = Metrics.counter(metrics.NAMESPACE, metrics.VALID)
        self._invalid = Metrics.counter(metrics.NAMESPACE, metrics.INVALID)
        self._forgotten = Metrics.counter(metrics.NAMESPACE, metrics.FORGOTTEN_USER)
        self._invalid_by_reason = metrics.CounterFamily(metrics.INVALID_BY_REASON)

    def setup(self) -> None:
        if self._forgotten_list is not None:
            self._forgotten_list.setup()

    def start_bundle(self) -> None:
        self._bundle_read = self._bundle_invalid = self._bundle_forgotten = 0

    def process(self, record: SourceMessage) -> Iterable[BigtableRow | TaggedOutput[str, DeadLetter]]:
        self._bundle_read += 1
        users = self._forgotten_list.current() if self._forgotten_list is not None else NOBODY
        try:
            transaction = self._parse(record)
        except InvalidMessage as error:
            if users and users.names(named_user(record.data, record.attributes)):
                return self._forget(transaction_id_of(record))
            self._bundle_invalid += 1
            self._invalid_by_reason[error.reason].inc()
            letter = dead_letter(record.data, record.attributes, error.stage, error.reason, error.detail)
            return (beam.pvalue.TaggedOutput(DEAD_LETTERS, letter),)
        if users and users.forgets(transaction.user_id, transaction.event_time_ms):
            return self._forget(transaction.transaction_id)
        return (to_row(transaction, record),)

    def _forget(self, transaction_id: str) -> tuple[()]:
        self._bundle_forgotten += 1
        _LOG.info("not written: transaction %s of a user who asked to be forgotten", excerpt(transaction_id))
        return ()

    def finish_bundle(self) -> None:
        self._read.inc(self._bundle_read)
        self._valid.inc(self._bundle_read - self._bundle_invalid - self._bundle_forgotten)
        self._invalid.inc(self._bundle_invalid)
        self._forgotten.inc(self._bundle_forgotten)

    def teardown(self) -> None:
        if self._forgotten_list is not None:
            self._forgotten_list.teardown()


NOBODY = ForgottenUsers({})


def transaction_id_of(record: SourceMessage) -> str:
    """A record's transaction id without parsing it: the producer's attribute, or a backfill line's
    own (file and offset); ``unknown`` when it carries neither."""
    message_attributes = record.attributes
    if attributes.SOURCE_FILE in message_attributes and attributes.SOURCE_OFFSET in message_attributes:
        offset = message_attributes[attributes.SOURCE_OFFSET]
        if offset.isdigit():
            return backfill_transaction_id(message_attributes[attributes.SOURCE_FILE], int(offset))
    return message_attributes.get(attributes.TRANSACTION_ID) or "unknown"


def build_pipeline(pipeline: beam.Pipeline, config: JobConfig) -> None:
    """Add the job's steps to ``pipeline``: read, parse, write, dead letters."""
    parse: Parse
    if config.input_file is None:  # a subscription: the stream
        on_dataflow = pipeline.options.view_as(StandardOptions).runner in ("DataflowRunner", "TestDataflowRunner")
        records = pipeline | STEP_READ >> beam.io.ReadFromPubSub(
            subscription=config.input_subscription,
            with_attributes=True,
            # Dataflow deduplicates redeliveries by this attribute; the Python direct runner
            # does not support id_label. Cell timestamps make redelivery harmless anyway.
            id_label=DEDUPLICATION_ATTRIBUTE if on_dataflow else None,
        )
        parse = parse_message
    else:
        records = pipeline | STEP_READ >> ReadCsvLines(config.input_file)
        parse = parse_csv_line
    forgotten_users = forgotten_list(config)  # one list for both steps: one copy per worker process
    parsed = parse_and_validate(records, parse, forgotten_users)
    dead_letters, written = write_rows(parsed, config)
    dead_letters | STEP_PUBLISH_DEAD_LETTERS >> PublishDeadLetters(config.dead_letter_topic)
    if config.rollups_table:
        write_rollups(written, config, forgotten=forgotten_users)


def write_rollups(
    written: beam.PCollection[WrittenSales],
    config: JobConfig,
    generation: str | None = None,
    forgotten: ForgottenList | None = None,
) -> None:
    """The live rollups of the written rows, in the rollups table (``docs/rollups.md``).

    Steps of their own, added next to the transaction steps: a job without rollups has exactly
    the graph it had before. ``generation`` names this writer's counts (default: a new one for a
    stream's launch, the input's for a backfill: :func:`rollups.writer_generation`); ``forgotten``
    keeps a forgotten user's day totals unwritten.
    """
    rollup_target = bigtable_target(config, config.rollups_table, rollup_layout.FAMILY)
    generation = generation or rollups.writer_generation(config.streaming, config.input_file)
    failures = rollups.rollup_rows(
        written, config.streaming, config.rollup_allowed_lateness_seconds
    ) | rollups.STEP_WRITE >> rollup_sink.WriteRollups(
        rollup_target,
        generation,
        adaptive_throttling=not config.streaming,
        forgotten=forgotten,
        batches_in_flight=1 if config.streaming else rollup_sink.BACKFILL_BATCHES_IN_FLIGHT,
    )
    failures | rollups.STEP_PUBLISH_DEAD_LETTERS >> PublishDeadLetters(config.dead_letter_topic)


def bigtable_target(config: JobConfig, table: str | None = None, column_family: str | None = None) -> BigtableTarget:
    """Where the job writes, from its parameters: the transaction table, or ``table`` (the rollups')."""
    return BigtableTarget(
        project=config.bigtable_project,
        instance=config.bigtable_instance,
        table=table or config.bigtable_table,
        column_family=column_family or config.column_family,
        app_profile_id=config.bigtable_app_profile,
    )


def parse_and_validate(
    records: beam.PCollection[SourceMessage], parse: Parse = parse_message, forgotten: ForgottenList | None = None
) -> DoOutputsTuple:
    """``records`` -> tagged outputs ``rows`` (:class:`BigtableRow`) and ``dead_letters``."""
    fn = ParseAndValidateFn(parse, forgotten)
    return records | STEP_PARSE >> beam.ParDo(fn).with_outputs(DEAD_LETTERS, main=ROWS)


def forgotten_list(config: JobConfig) -> ForgottenList | None:
    """The job's view of the forgotten list, or None when it keeps none (``forgotten_table`` empty)."""
    if not config.forgotten_table:
        return None
    target = bigtable_target(config, config.forgotten_table, forgotten.FAMILY)
    return ForgottenList(target, config.forgotten_refresh_seconds)


def write_rows(parsed: DoOutputsTuple, config: JobConfig) -> WriteResult:
    """Write the valid rows of ``parsed``; returns every dead letter (parse and write), and what
    was written (sales, for the rollups; empty when the job keeps none)."""
    result = parsed[ROWS] | STEP_WRITE >> WriteBigtableRows(
        bigtable_target(config),
        adaptive_throttling=not config.streaming,  # a bulk load yields to the live stream
        report_freshness=config.streaming,  # a backfill's event times are history
        emit_written=bool(config.rollups_table),
    )
    dead_letters = (parsed[DEAD_LETTERS], result.dead_letters) | STEP_COLLECT_DEAD_LETTERS >> beam.Flatten()
    return WriteResult(dead_letters, result.written)


def run(options: PipelineOptions, config: JobConfig) -> PipelineResult:
    """Build and start the job; returns the runner's result (the caller decides to wait).

    A subscription makes a streaming job and a file a batch one, whatever the flags say; the
    local runner is chosen only after that is set, so that ``--runner=DirectRunner`` without
    ``--streaming`` still gets the streaming direct runner for a subscription.
    """
    options.view_as(StandardOptions).streaming = config.streaming
    choose_local_runner(options)
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, config)
    return pipeline.run()
