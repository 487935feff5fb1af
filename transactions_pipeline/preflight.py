"""Launch-time checks: fail before the job starts if what it needs is missing or out of reach.

A streaming job with a missing table would otherwise start, pull messages and dead-letter every
one of them; one without publish rights on the dead-letter topic would fail only at its first bad
message, then retry that bundle forever. Each check below ends the launch with one line that
names the parameter. They run where the job is launched (on Dataflow, the launcher VM, with the
job's service account), through the same clients as the job, with short timeouts and no retries.

Where a local emulator does not implement a call (IAM permission tests on Pub/Sub, the Bigtable
instance admin API for app profiles), that one check is skipped with a log line; the service
implements them all.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as api_exceptions

from transactions import forgotten, resource_names, retention, rollup_layout
from transactions.cli_errors import pubsub_existence_problem
from transactions.excerpt import excerpt, message_line, path_line
from transactions.kaggle import SaleRow, UnusableInput, check_header, parse_row, split_fields
from transactions_pipeline.options import ConfigError, JobConfig
from transactions_wire import clients

_LOG = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10.0
MAX_FILES_CHECKED = 100
"""A backfill's files are opened at launch to check their header; past this many, the job checks the rest."""
DATES_SAMPLED_PER_FILE = 1000
"""Data lines of each checked file whose purchase date is read at launch, for the retention check
(``transactions.retention.backfill_notices``): a sample, so a launch never reads a whole file."""

SUBSCRIPTION_CONSUME = "pubsub.subscriptions.consume"
TOPIC_PUBLISH = "pubsub.topics.publish"
BIGTABLE_SCHEMA_READ = "bigtable.tables.get"
ROLE_TO_GRANT = {
    SUBSCRIPTION_CONSUME: "roles/pubsub.subscriber",
    TOPIC_PUBLISH: "roles/pubsub.publisher",
    BIGTABLE_SCHEMA_READ: "roles/bigtable.user",
}
"""The role each launch-check failure tells the operator to grant: the narrowest that holds the
permission (deploy/iam/roles.toml; tests/unit/deploy/test_iam.py checks it, and that docs/iam.md grants it)."""


def check_all(config: JobConfig) -> None:
    """Every check that applies to the job; raises :class:`ConfigError` on the first failure."""
    if config.input_subscription is not None:
        check_subscription(config.input_subscription)
    if config.input_file is not None:
        check_input_files(config.input_file, rollups=bool(config.rollups_table))
    check_dead_letter_topic(config.dead_letter_topic)
    check_bigtable(config)
    if config.rollups_table:
        check_rollups_table(config, config.rollups_table)
    if config.forgotten_table:
        check_forgotten_table(config, config.forgotten_table)
    if config.bigtable_app_profile:
        check_app_profile(config)


def check_subscription(subscription: str) -> None:
    """The subscription exists and the job may pull from it and acknowledge."""
    with clients.pubsub_subscriber() as client:
        _require_permission(
            "--input_subscription",
            subscription,
            SUBSCRIPTION_CONSUME,
            lambda: client.test_iam_permissions(
                request={"resource": subscription, "permissions": [SUBSCRIPTION_CONSUME]},
                timeout=TIMEOUT_SECONDS,
                retry=None,
            ),
            lambda: client.get_subscription(subscription=subscription, timeout=TIMEOUT_SECONDS, retry=None),
        )


def check_dead_letter_topic(topic: str) -> None:
    """The dead-letter topic exists and the job may publish to it."""
    with clients.pubsub_publisher() as publisher:
        api = publisher.api
        _require_permission(
            "--dead_letter_topic",
            topic,
            TOPIC_PUBLISH,
            lambda: api.test_iam_permissions(
                request={"resource": topic, "permissions": [TOPIC_PUBLISH]}, timeout=TIMEOUT_SECONDS, retry=None
            ),
            lambda: api.get_topic(topic=topic, timeout=TIMEOUT_SECONDS, retry=None),
        )


def _require_permission(
    parameter: str,
    resource: str,
    permission: str,
    test_permissions: Callable[[], Any],
    get_resource: Callable[[], object],
) -> None:
    """``permission`` on ``resource``, asked of the service (``testIamPermissions``)."""
    try:
        granted = test_permissions().permissions
    except api_exceptions.NotFound:
        raise ConfigError(f"{parameter}: {resource} does not exist") from None
    except api_exceptions.MethodNotImplemented:
        _LOG.info("%s: this Pub/Sub (an emulator) cannot test IAM permissions; checking that it exists", parameter)
        _exists(parameter, resource, get_resource)
        return
    except api_exceptions.GoogleAPICallError as error:
        raise ConfigError(f"{parameter}: cannot check {resource}: {message_line(error)}") from None
    if permission not in granted:
        role = ROLE_TO_GRANT[permission]
        raise ConfigError(f"{parameter}: the job's service account lacks {permission} on {resource} (grant it {role})")


def _exists(parameter: str, resource: str, get_resource: Callable[[], object]) -> None:
    problem = pubsub_existence_problem(resource, get_resource)
    if problem:
        raise ConfigError(f"{parameter}: {problem}")


def check_bigtable(config: JobConfig) -> None:
    """The table and its column family exist and are visible to the job's credentials."""
    _check_table(config, "bigtable_table", config.bigtable_table, "column_family", (config.column_family,))


def check_rollups_table(config: JobConfig, table: str) -> None:
    """The rollups table exists, with the rollups' families ``agg`` and ``ids``."""
    _check_table(config, "rollups_table", table, None, rollup_layout.FAMILIES)


def check_forgotten_table(config: JobConfig, table: str) -> None:
    """The forgotten users' table exists, with its family: without it the job could not tell whose
    records to drop, so it does not start."""
    _check_table(config, "forgotten_table", table, None, (forgotten.FAMILY,))


def _check_table(
    config: JobConfig, table_parameter: str, table_id: str, family_parameter: str | None, wanted: tuple[str, ...]
) -> None:
    """The table exists and has every family of ``wanted`` (one schema read)."""
    where = resource_names.table_path(config.bigtable_project, config.bigtable_instance, table_id)
    try:
        with clients.bigtable_admin(config.bigtable_project) as client:
            families = client.instance(config.bigtable_instance).table(table_id).list_column_families()
    except api_exceptions.NotFound:
        raise ConfigError(
            f"--{table_parameter}: table {where} does not exist; create it with family "
            f"{' and '.join(repr(family) for family in wanted)} (transacoes-provision, or cbt createtable)"
        ) from None
    except api_exceptions.PermissionDenied as error:
        raise ConfigError(
            f"--{table_parameter}: no permission to read the schema of {where} "
            f"(the job's service account needs {ROLE_TO_GRANT[BIGTABLE_SCHEMA_READ]}): {message_line(error)}"
        ) from None
    except api_exceptions.GoogleAPICallError as error:
        raise ConfigError(f"--{table_parameter}: cannot check {where}: {message_line(error)}") from None
    for family in wanted:
        if family not in families:
            present = ", ".join(sorted(families)) or "none"
            raise ConfigError(
                f"--{family_parameter or table_parameter}: table {where} has no column family '{family}' "
                f"(families: {present})"
            )


def check_app_profile(config: JobConfig) -> None:
    """The app profile exists in the instance (an unknown one fails every write)."""
    where = f"projects/{config.bigtable_project}/instances/{config.bigtable_instance}"
    try:
        with clients.bigtable_admin(config.bigtable_project) as client:
            instance = client.instance(config.bigtable_instance)
            found = instance.app_profile(config.bigtable_app_profile).exists()
    except api_exceptions.MethodNotImplemented:
        _LOG.info("--bigtable_app_profile: this Bigtable (an emulator) has no instance admin API; not checked")
        return
    except api_exceptions.GoogleAPICallError as error:
        raise ConfigError(f"--bigtable_app_profile: cannot check it in {where}: {message_line(error)}") from None
    if not found:
        raise ConfigError(f"--bigtable_app_profile: {where} has no app profile '{config.bigtable_app_profile}'")


def check_input_files(pattern: str, rollups: bool = False, now_ms: int | None = None) -> None:
    """A backfill's pattern matches files the job can open, and they start with the Kaggle header
    (read through the decompressor for a compressed file, as the job reads it). Then retention:
    the purchase dates of the first lines of each file are checked against the tables' max ages
    (a backfill whose dates are all past the transactions' is refused; one line each for dates
    past it or past the rollups' counted ids)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    from transactions_pipeline.backfill import first_line

    try:
        [result] = FileSystems.match([pattern])
    except Exception as error:  # any filesystem error (bad bucket, no credentials) stops the launch
        raise ConfigError(f"--input_file: cannot list {excerpt(pattern)}: {message_line(error)}") from None
    if not result.metadata_list:
        raise ConfigError(f"--input_file: no file matches {excerpt(pattern)}")
    dates: list[str] = []
    for metadata in result.metadata_list[:MAX_FILES_CHECKED]:
        where = path_line(metadata.path)
        try:
            with FileSystems.open(metadata.path, compression_type=CompressionTypes.AUTO) as handle:
                header = first_line(handle)
                check_header(where, header)
                dates += _purchase_dates(handle, DATES_SAMPLED_PER_FILE)
        except UnusableInput as error:
            raise ConfigError(f"--input_file: {error}") from None
        except Exception as error:
            raise ConfigError(f"--input_file: cannot read {where}: {message_line(error)}") from None
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    refusal, warnings = retention.backfill_notices(dates, now, rollups)
    if refusal:
        raise ConfigError(f"--input_file: {refusal}; nothing would be kept (docs/data-lifecycle.md, Retention)")
    for warning in warnings:
        _LOG.warning("--input_file: %s (docs/data-lifecycle.md, Retention)", warning)


def _purchase_dates(handle: Any, at_most: int) -> list[str]:
    """The ISO purchase dates of up to ``at_most`` usable lines after the header (unusable lines
    are the job's to dead-letter, not the launch's)."""
    from transactions_pipeline.backfill import first_line

    dates = []
    for _ in range(at_most):
        raw = first_line(handle)  # bounded where the reader allows: the rest of a longer line fails to parse
        if not raw:
            break
        try:
            row = parse_row(0, split_fields(raw.decode("utf-8").rstrip("\r\n")))
        except (UnicodeDecodeError, csv.Error):
            continue
        if isinstance(row, SaleRow):
            dates.append(row.purchase_date)
    return dates
