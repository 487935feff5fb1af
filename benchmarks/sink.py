"""Sink benchmark: parse -> validate -> write in a batch Beam pipeline (FnApiRunner).

Three pipelines on the same messages (:mod:`benchmarks.jobs`), a process per run:

- ``floor``: read, parse and validate, build rows, then drop them: the cost of everything but
  the write, the floor no sink can beat, and what is subtracted to isolate the write stage;
- ``baseline``: the rows as ``DirectRow``s into Beam's own ``WriteToBigTable``
  (``use_cross_language=False``);
- ``ours``: the rows into :class:`transactions_pipeline.bigtable_sink.WriteBigtableRows`.

A fourth runs up to the goal size: ``ours`` with the live rollups added (batch windows). What
they cost per row is the marginal cost, from the smallest size to the goal size: a run's fixed
costs (two more clients to start, a bigger graph) are not per row, and are shown apart, in the
whole-run line.

Both sinks write to their own table, emptied before each run; after the runs at a size both
tables must hold exactly the cells the messages describe, and ours must count every row written.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import curve
from benchmarks.jobs import write_bodies
from benchmarks.measure import Result, Sample, cheaper, costs_at_most, faster, marginal


def run(sizes: list[int], goal_size: int, rounds: int, work_dir: Path, dead_letter_topic: str, log=print):
    """The goal lines at ``goal_size`` and the curve's points at every size."""
    medians, every_size, points = curve.run_sizes(
        "sink",
        sizes,
        goal_size,
        rounds,
        lambda size: write_bodies(work_dir / f"messages-{size}.jsonl", size),
        "--dead-letter-topic",
        dead_letter_topic,
        up_to_goal=("baseline", "rollups"),
        log=log,
    )
    floor = medians["floor"]

    def write_stage(sample: Sample) -> Sample:
        return Sample(sample.rows, sample.seconds - floor.seconds, sample.cpu_seconds - floor.cpu_seconds)

    results = [
        Result(
            "sink: whole pipeline", "WriteToBigTable", "ours", medians["baseline"], medians["ours"], faster(5), floor
        ),
        Result(
            "sink: write stage only",
            "DirectRow + WriteToBigTable",
            "ours",
            write_stage(medians["baseline"]),
            write_stage(medians["ours"]),
            goal=cheaper(10),
        ),
        Result(
            "sink: rollups, per row (marginal)",
            "ours without rollups",
            "ours with rollups",
            marginal(medians["ours"], every_size[0]["ours"]),  # smallest to goal size
            marginal(medians["rollups"], every_size[0]["rollups"]),
            goal=costs_at_most(1.3),
        ),
        Result(
            "sink: rollups, whole run (reference)",
            "ours without rollups",
            "ours with rollups",
            medians["ours"],
            medians["rollups"],
        ),
    ]
    return results, points
