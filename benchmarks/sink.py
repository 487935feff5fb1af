"""Sink benchmark: parse -> validate -> write in a batch Beam pipeline (FnApiRunner).

Three pipelines on the same messages, alternating:

- ``no sink``: read, parse and validate, build rows, then drop them: the cost of everything
  but the write, subtracted from the other two to isolate the write stage;
- ``WriteToBigTable``: the rows as ``DirectRow``s into Beam's own sink
  (``use_cross_language=False``);
- ``ours``: the rows into :class:`transactions_pipeline.bigtable_sink.WriteToBigtable`.

Both sinks write to their own table, which is emptied before each run; after the last round
both tables must hold exactly the cells the messages describe.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam import coders
from apache_beam.io.gcp.bigtableio import WriteToBigTable
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks import workloads
from benchmarks.baselines import to_direct_row
from benchmarks.measure import Contender, Result, Sample, alternate, cheaper, faster
from transactions_pipeline.bigtable_sink import WriteToBigtable as OurWriteToBigtable
from transactions_pipeline.bigtable_writer import BigtableTarget
from transactions_pipeline.pipeline import ROWS, parse_and_validate
from transactions_tools import defaults
from transactions_tools.digest import table_digest
from transactions_tools.provision import create_table

PROJECT = defaults.PROJECT
INSTANCE = defaults.INSTANCE
FAMILY = defaults.COLUMN_FAMILY


def batch_options() -> PipelineOptions:
    return PipelineOptions(["--runner=FnApiRunner", f"--project={PROJECT}"])


def bigtable_table(name: str):
    from google.cloud import bigtable

    return bigtable.Client(project=PROJECT, admin=True).instance(INSTANCE).table(name)


def fresh_table(name: str) -> None:
    """Create the table (family ``dados``, one version) if needed, and empty it."""
    create_table(PROJECT, INSTANCE, name, FAMILY, log=lambda _: None)
    bigtable_table(name).truncate(timeout=120)


def same_rows(baseline_table: str, ours_table: str, expected_rows: int, log=print) -> None:
    """Both tables hold the same cells, ``expected_rows`` rows of them; raise if not."""
    found = {name: table_digest(name) for name in (baseline_table, ours_table)}
    if found[baseline_table] != found[ours_table] or found[ours_table][0] != expected_rows:
        raise AssertionError(f"the sinks wrote different rows: {found} (expected {expected_rows} rows)")
    log(f"  same {expected_rows:,} rows in both tables (sha256 {found[ours_table][1][:16]}...)")


class _Drop(beam.DoFn):
    def process(self, element):
        return ()


def as_message(data: bytes) -> PubsubMessage:
    return PubsubMessage(data, {})


def read_messages(pipeline, path: Path):
    """Message bodies from a file, one per line, as Pub/Sub messages (cheap, like a real source).

    ``beam.Create`` would pickle and bz2-compress every message into the pipeline itself:
    seconds of fixed cost that would hide the sinks' difference.
    """
    return (
        pipeline
        | "ReadBodies" >> beam.io.ReadFromText(str(path), coder=coders.BytesCoder())
        | "AsMessages" >> beam.Map(as_message)
    )


def write_bodies(path: Path, count: int) -> Path:
    with path.open("wb") as out:
        for message in workloads.messages(count):
            out.write(message.data + b"\n")
    return path


def _sink_pipeline(path: Path, count: int, sink) -> int:
    """Run bodies -> parse -> rows -> ``sink`` (a callable adding the write) to completion."""
    with beam.Pipeline(options=batch_options()) as pipeline:
        parsed = parse_and_validate(read_messages(pipeline, path))
        sink(parsed[ROWS])
    return count


def run(count: int, rounds: int, work_dir: Path, log=print) -> list[Result]:
    log(f"sink: {count:,} messages, parse -> validate -> write, FnApiRunner, {rounds} rounds")
    bodies = write_bodies(work_dir / "messages.jsonl", count)
    baseline_table, ours_table = "bench_sink_baseline", "bench_sink_ours"
    target = BigtableTarget(PROJECT, INSTANCE, ours_table, FAMILY)

    def no_sink() -> int:
        return _sink_pipeline(bodies, count, lambda rows: rows | "Drop" >> beam.ParDo(_Drop()))

    def baseline() -> int:
        return _sink_pipeline(
            bodies,
            count,
            lambda rows: (
                rows
                | "ToDirectRow" >> beam.Map(to_direct_row, FAMILY)
                | "WriteToBigTable" >> WriteToBigTable(PROJECT, INSTANCE, baseline_table, use_cross_language=False)
            ),
        )

    def ours() -> int:
        return _sink_pipeline(bodies, count, lambda rows: rows | "WriteToBigtable" >> OurWriteToBigtable(target))

    medians = alternate(
        {
            "no sink": Contender(no_sink),
            "WriteToBigTable": Contender(baseline, lambda: fresh_table(baseline_table)),
            "ours": Contender(ours, lambda: fresh_table(ours_table)),
        },
        rounds,
        log,
    )
    same_rows(baseline_table, ours_table, count, log)

    def write_stage(sample: Sample) -> Sample:
        prefix = medians["no sink"]
        return Sample(sample.rows, sample.seconds - prefix.seconds, sample.cpu_seconds - prefix.cpu_seconds)

    return [
        Result(
            "sink: whole pipeline",
            "WriteToBigTable",
            "ours",
            medians["WriteToBigTable"],
            medians["ours"],
            goal=faster(2),
        ),
        Result(
            "sink: write stage only",
            "DirectRow + WriteToBigTable",
            "ours",
            write_stage(medians["WriteToBigTable"]),
            write_stage(medians["ours"]),
            goal=cheaper(5),
        ),
    ]
