"""Launch-time checks: fail before the job starts if what it writes to does not exist.

A streaming job with a missing table would otherwise start, pull messages, and dead-letter
every one of them; a clear error at launch is cheaper for everyone.
"""

from __future__ import annotations

from google.api_core import exceptions as api_exceptions

from transactions import resource_names
from transactions_pipeline.options import ConfigError, JobConfig


def check_bigtable(config: JobConfig) -> None:
    """The table and its column family exist and are visible to the job's credentials."""
    from google.cloud import bigtable

    client = bigtable.Client(project=config.bigtable_project, admin=True)
    table = client.instance(config.bigtable_instance).table(config.bigtable_table)
    where = resource_names.table_path(config.bigtable_project, config.bigtable_instance, config.bigtable_table)
    try:
        families = table.list_column_families()
    except api_exceptions.NotFound:
        raise ConfigError(
            f"--bigtable_table: table {where} does not exist; create it with family "
            f"'{config.column_family}' (transacoes-provision, or cbt createtable)"
        ) from None
    except api_exceptions.PermissionDenied as error:
        raise ConfigError(
            f"--bigtable_table: no permission to read the schema of {where} "
            f"(the job's service account needs roles/bigtable.user): {error.message}"
        ) from None
    except api_exceptions.GoogleAPICallError as error:
        raise ConfigError(f"--bigtable_table: cannot check {where}: {error.message}") from None
    if config.column_family not in families:
        present = ", ".join(sorted(families)) or "none"
        raise ConfigError(
            f"--column_family: table {where} has no column family '{config.column_family}' (families: {present})"
        )


def check_input_files(config: JobConfig) -> None:
    """A backfill's ``--input_file`` matches at least one file the job can see."""
    if config.input_file is None:
        return
    from apache_beam.io.filesystems import FileSystems

    try:
        [result] = FileSystems.match([config.input_file])
    except Exception as error:  # any filesystem error (bad bucket, no credentials) stops the launch
        raise ConfigError(f"--input_file: cannot list {config.input_file!r}: {error}") from None
    if not result.metadata_list:
        raise ConfigError(f"--input_file: no file matches {config.input_file!r}")
