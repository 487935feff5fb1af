"""Stream e-commerce transactions from Pub/Sub into Cloud Bigtable (Dataflow Flex Template).

The package is what the template image installs; ``template/main.py`` is the thin entry point
that the Flex Template launcher runs. Each module has one job:

- ``options``: the public parameters and their validation.
- ``contract``: message contract v1, parsing and validation of one message.
- ``bigtable_row``: row key and cells of a valid transaction.
- ``bigtable_writer``: our batched, low-overhead Bigtable sink.
- ``dead_letters``: dead-letter records and their publisher.
- ``metrics``: the job's metric namespace and per-reason counters.
- ``preflight``: launch-time checks of the resources the job writes to.
- ``pipeline``: assembles the steps under stable names.
"""
