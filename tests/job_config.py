"""A job's configuration on the local emulators' names, for tests that only build a pipeline."""

from typing import Any

from transactions_pipeline.options import JobConfig


def local_job_config(**values: Any) -> JobConfig:
    """The local project's instance, table, family and dead-letter topic; ``values`` add the
    source (``input_subscription`` or ``input_file``) and anything else, or replace these."""
    return JobConfig(
        **{
            "dead_letter_topic": "projects/local-project/topics/dead-letters",
            "bigtable_project": "local-project",
            "bigtable_instance": "local-instance",
            "bigtable_table": "transacoes",
            "column_family": "dados",
            **values,
        }
    )
