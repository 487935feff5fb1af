"""The sink and backfill benchmarks' pipelines, each run once in a process of its own.

``python -m benchmarks.jobs KIND CONTENDER --input PATH --table NAME --rows N`` runs one pipeline
to completion and prints its sample (wall, CPU, peak RSS) as JSON: a process per run, so that
each run's peak memory is its own and no run inherits another's warm caches. Contenders:

- ``ours``: for ``sink``, bodies -> parse -> validate -> our ``WriteBigtableRows``; for
  ``backfill``, the backfill job itself (``pipeline.run`` with ``input_file``, dead letters
  included), as ``main.py`` runs it;
- ``baseline``: the same read and parse, the rows written as ``DirectRow``s by Beam's own
  ``WriteToBigTable`` (``use_cross_language=False``);
- ``floor``: the same read and parse, the rows dropped: Beam's per-element cost and ours
  without any write, which no sink can beat;
- ``rollups``: ours, plus the live rollups (as the job adds them with ``rollups_table``) into
  ``<table>_rollups``: for ``sink`` through ``pipeline.write_rollups``, for ``backfill`` the job
  with ``rollups_table`` set.

``--workers 2`` runs on two local worker processes (``--direct_running_mode=multi_processing``).
The JSON also carries how many rows the job counted as written (ours) and which byte ranges of
the file each process read (the backfill source logs them).
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import apache_beam as beam
from apache_beam import coders
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks import workloads
from benchmarks.measure import report_from_child
from transactions_pipeline import metrics
from transactions_pipeline.backfill import ReadCsvLines, parse_csv_line
from transactions_pipeline.bigtable_sink import WriteBigtableRows
from transactions_pipeline.bigtable_writer import BigtableTarget
from transactions_pipeline.options import JobConfig
from transactions_pipeline.pipeline import ROWS, STEP_READ, parse_and_validate, write_rollups
from transactions_pipeline.pipeline import run as run_job
from transactions_tools import defaults

KINDS = ("sink", "backfill")
CONTENDERS = ("ours", "baseline", "floor", "rollups")
PROJECT = defaults.PROJECT
INSTANCE = defaults.INSTANCE
FAMILY = defaults.COLUMN_FAMILY
_RANGE_READ = re.compile(r"reading bytes \[(\d+), (\d+)\) of \S+ in process (\d+)")


def options(runner: str = "FnApiRunner", workers: int = 1) -> PipelineOptions:
    flags = [f"--runner={runner}", f"--project={PROJECT}"]
    if workers > 1:
        flags += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    return PipelineOptions(flags)


class _Drop(beam.DoFn):
    def process(self, element):
        return ()


def _as_message(data: bytes) -> PubsubMessage:
    return PubsubMessage(data, {})


def read_messages(pipeline, path: str):
    """Message bodies from a file, one per line, as Pub/Sub messages (cheap, like a real source).

    ``beam.Create`` would pickle and bz2-compress every message into the pipeline itself:
    seconds of fixed cost that would hide the sinks' difference.
    """
    return (
        pipeline
        | "ReadBodies" >> beam.io.ReadFromText(path, coder=coders.BytesCoder())
        | "AsMessages" >> beam.Map(_as_message)
    )


def write_bodies(path: Path, count: int) -> Path:
    """``count`` contract-v1 message bodies, one per line: the sink benchmark's input."""
    with path.open("wb") as out:
        for message in workloads.messages(count):
            out.write(message.data + b"\n")
    return path


def rollups_table(table: str) -> str:
    """Where the ``rollups`` contender writes its rollups."""
    return f"{table}_rollups"


def job_config(table: str, dead_letter_topic: str, input_file: str, **extra) -> JobConfig:
    """The job's parameters for a benchmark run on the emulators."""
    return JobConfig(
        dead_letter_topic=dead_letter_topic,
        bigtable_project=PROJECT,
        bigtable_instance=INSTANCE,
        bigtable_table=table,
        column_family=FAMILY,
        input_file=input_file,
        **extra,
    )


def _write(rows, contender: str, table: str, dead_letter_topic: str = "") -> None:
    if contender == "floor":
        rows | "Drop" >> beam.ParDo(_Drop())
    elif contender == "baseline":
        from apache_beam.io.gcp.bigtableio import WriteToBigTable

        from benchmarks.baselines import to_direct_row

        direct_rows = rows | "ToDirectRow" >> beam.Map(to_direct_row, FAMILY)
        direct_rows | "WriteToBigTable" >> WriteToBigTable(PROJECT, INSTANCE, table, use_cross_language=False)
    elif contender == "rollups":  # ours, and the rollups of what it wrote, as the job adds them
        target = BigtableTarget(PROJECT, INSTANCE, table, FAMILY)
        written = (rows | "WriteToBigtable" >> WriteBigtableRows(target, emit_written=True)).written
        write_rollups(written, job_config(table, dead_letter_topic, "unused", rollups_table=rollups_table(table)))
    else:
        rows | "WriteToBigtable" >> WriteBigtableRows(BigtableTarget(PROJECT, INSTANCE, table, FAMILY))


def sink_job(path: str, contender: str, table: str, dead_letter_topic: str, workers: int = 1):
    """Bodies -> parse -> validate -> the contender's write; returns the finished result."""
    pipeline = beam.Pipeline(options=options(workers=workers))
    _write(parse_and_validate(read_messages(pipeline, path))[ROWS], contender, table, dead_letter_topic)
    result = pipeline.run()
    result.wait_until_finish()
    return result


def backfill_job(path: str, contender: str, table: str, dead_letter_topic: str, workers: int = 1):
    """The backfill of ``path`` with the contender's write; returns the finished result."""
    if contender in ("ours", "rollups"):  # the job itself; with rollups as ``--rollups_table`` adds them
        extra = {"rollups_table": rollups_table(table)} if contender == "rollups" else {}
        result = run_job(options("DirectRunner", workers), job_config(table, dead_letter_topic, path, **extra))
    else:
        pipeline = beam.Pipeline(options=options(workers=workers))
        _write(parse_and_validate(pipeline | STEP_READ >> ReadCsvLines(path), parse_csv_line)[ROWS], contender, table)
        result = pipeline.run()
    result.wait_until_finish()
    return result


def rows_written(result) -> int:
    """The job's own count of rows written (our sink's ``written`` counter; 0 for the others)."""
    found = result.metrics().query(MetricsFilter().with_namespace(metrics.NAMESPACE).with_name(metrics.WRITTEN))
    return sum(counter.committed or counter.attempted or 0 for counter in found["counters"])


class RangesRead(logging.Handler):
    """Collects the source's "reading bytes [a, b) of FILE in process PID" lines, from this
    process or, relayed by the runner, from its worker processes."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.ranges: list[tuple[int, int, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if found := _RANGE_READ.search(record.getMessage()):
            start, stop, pid = (int(group) for group in found.groups())
            self.ranges.append((start, stop, pid))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.jobs", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("--input", required=True, help="message bodies (sink) or a Kaggle CSV (backfill)")
    parser.add_argument("--table", required=True)
    parser.add_argument("--rows", type=int, required=True, help="rows in the input (reported, not counted)")
    parser.add_argument("--dead-letter-topic", default="")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    ranges = RangesRead()
    logging.getLogger().addHandler(ranges)
    logging.getLogger().setLevel(logging.INFO)
    for quiet in ("apache_beam", "google", "grpc", "urllib3"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.INFO)  # worker logs
    finished = {}

    def work() -> int:
        if args.kind == "sink":
            finished["result"] = sink_job(args.input, args.contender, args.table, args.dead_letter_topic, args.workers)
        else:
            finished["result"] = backfill_job(
                args.input, args.contender, args.table, args.dead_letter_topic, args.workers
            )
        return args.rows

    report_from_child(work, written=lambda: rows_written(finished["result"]), ranges=lambda: ranges.ranges)


if __name__ == "__main__":
    main()
