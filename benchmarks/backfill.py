"""Backfill benchmark: a Kaggle-format CSV through the batch job, with either sink.

Ours is the job itself (``template.pipeline.run`` with ``--input_file``, as ``main.py`` runs it,
dead-letter steps included). The baseline is the same read and the same parse step, with the
rows written as ``DirectRow``s by Beam's ``WriteToBigTable`` (``use_cross_language=False``).
Each writes its own table, emptied before every run; afterwards both must hold the same cells.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.io.gcp.bigtableio import WriteToBigTable
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks import workloads
from benchmarks.baselines import to_direct_row
from benchmarks.measure import Contender, Result, alternate
from benchmarks.sink import FAMILY, INSTANCE, PROJECT, fresh_table, same_rows
from transactions_pipeline.backfill import ReadCsvLines, parse_csv_line
from transactions_pipeline.options import JobConfig
from transactions_pipeline.pipeline import ROWS, STEP_READ, parse_and_validate
from transactions_pipeline.pipeline import run as run_job


def run(count: int, rounds: int, work_dir: Path, dead_letter_topic: str, log=print) -> list[Result]:
    log(f"backfill: a {count:,}-row CSV, read -> parse -> validate -> write, FnApiRunner, {rounds} rounds")
    csv_path = workloads.write_csv(work_dir / "backfill.csv", count)
    baseline_table, ours_table = "bench_backfill_baseline", "bench_backfill_ours"

    def baseline() -> int:
        options = PipelineOptions(["--runner=FnApiRunner", f"--project={PROJECT}"])
        with beam.Pipeline(options=options) as pipeline:
            parsed = parse_and_validate(pipeline | STEP_READ >> ReadCsvLines(str(csv_path)), parse_csv_line)
            rows = parsed[ROWS] | "ToDirectRow" >> beam.Map(to_direct_row, FAMILY)
            rows | "WriteToBigTable" >> WriteToBigTable(PROJECT, INSTANCE, baseline_table, use_cross_language=False)
        return count

    def ours() -> int:
        config = JobConfig(
            dead_letter_topic=dead_letter_topic,
            bigtable_project=PROJECT,
            bigtable_instance=INSTANCE,
            bigtable_table=ours_table,
            column_family=FAMILY,
            input_file=str(csv_path),
        )
        run_job(PipelineOptions(["--runner=DirectRunner", f"--project={PROJECT}"]), config).wait_until_finish()
        return count

    medians = alternate(
        {
            "WriteToBigTable": Contender(baseline, lambda: fresh_table(baseline_table)),
            "ours (the backfill job)": Contender(ours, lambda: fresh_table(ours_table)),
        },
        rounds,
        log,
    )
    same_rows(baseline_table, ours_table, count, log)
    return [
        Result(
            "backfill (batch job)",
            "same job, WriteToBigTable",
            "--input_file job",
            medians["WriteToBigTable"],
            medians["ours (the backfill job)"],
        )
    ]
