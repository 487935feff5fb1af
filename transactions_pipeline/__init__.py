"""The Flex Template's pipeline: what the launcher and the Dataflow workers run, and nothing else.

Its entry file, ``template/main.py``, stays out of the package, so that none of these modules
become top-level imports in the launcher. It builds on contract v1 (:mod:`transactions`) and
the wire encoders (:mod:`transactions_wire`), and never imports the producer or the operator tools.
Design notes: ``docs/architecture.md``. Each module has one job:

- ``launch``: the entry point: parse, check, build and run (``main.py`` calls it).
- ``parameters``: the one table of the template's parameters (options, metadata, help).
- ``options``: the public parameters and their validation.
- ``preflight``: launch-time checks of the resources the job reads and writes.
- ``pipeline``: assembles the steps under stable names.
- ``backfill``: the CSV source of a batch backfill.
- ``rows``: the row the Bigtable writer takes (key, cells, timestamp, source record).
- ``bigtable_connection``: how a worker reaches a table: one data client, its ``MutateRows``
  sender and ``ReadRows`` attempt, closed together.
- ``bigtable_writer``: one batch to Bigtable, with its retry policy.
- ``bigtable_reader``: rows by key, with the same retry rule.
- ``bigtable_sink``: the Beam sink around the writer (batching per bundle, metrics, lineage).
- ``rollups``: the live rollups' partials, windows and totals.
- ``rollup_sink``: the rollups' read-merge-write sink, exact across every writer.
- ``dead_letter_sink``: the Beam sink of the dead-letter topic.
- ``metrics``: the job's metric names and per-reason counters.
"""
