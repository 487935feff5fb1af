"""Message contract v1 of the e-commerce transactions, shared by the pipeline and the producer.

This package is the bottom of the dependency graph: the Flex Template's pipeline
(``transactions_pipeline``) and the producer both import it, never each other, and it imports
neither Beam nor a Google client, not even inside a function (``tests/unit/test_dependencies.py``
reads every import statement). Design notes: ``docs/contract.md``. Modules:

- ``contract``: the fields, their rules and reason codes; parsing and validating one message.
- ``formats``: money and time as they are written (``332.00``, ``2025-12-05T21:13:52.076Z``).
- ``attributes``: every Pub/Sub attribute name the system reads or writes.
- ``dead_letters``: the dead-letter format (original bytes, error attributes, size limits).
- ``layout``: the Bigtable layout: row keys and their inverse, the cells, their timestamps.
- ``rollup_layout``: the live rollups' layout: their row keys and inverse, families and cells.
- ``kaggle``: the Kaggle "E-Commerce Dataset" CSV format and its reader.
- ``messages``: a contract-v1 message built from a CSV row, and the transaction-id forms.
- ``resource_names``: the forms of project, topic, subscription, instance, table ids and paths.
- ``cli_errors``: how every command fails: one line, a clear exit code, no traceback.
- ``excerpt``: the one way to quote input to a person: a bounded, escaped excerpt.
"""
