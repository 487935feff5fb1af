"""The template's parameters as Beam options, and their validation at launch.

The parameters themselves (names, forms, help) are :mod:`transactions_pipeline.parameters`.
Beam parses them; :func:`resolve_config` checks their presence and form and fails with a message
that names the parameter and the expected form, before anything is built or launched. The
resources behind them are checked next, by :mod:`transactions_pipeline.preflight`.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

from transactions import resource_names
from transactions.excerpt import excerpt
from transactions.forgotten import DEFAULT_REFRESH_SECONDS
from transactions_pipeline.parameters import BY_NAME, PARAMETERS

LOCAL_PATH = re.compile(r"[^:\x00-\x1f]+")
"""A local file or glob (no ':', so s3:// and http:// are refused): only for a local run; on
Dataflow the launcher VM has none of the operator's files, so ``input_file`` must be gs://."""
MAX_REFRESH_SECONDS = 3600
"""The longest ``forgotten_refresh`` (its form, ``resource_names``' ``refresh``): past an hour, a
forgotten user's records could pass for too long."""
LOCAL_RUNNERS = (None, "DirectRunner", "SwitchingDirectRunner", "BundleBasedDirectRunner", "FnApiRunner", "PrismRunner")


class ConfigError(ValueError):
    """A parameter is missing or malformed; the message names it and the expected form."""


class TransactionsOptions(PipelineOptions):
    """The template's own parameters (``sdk_container_image`` is Beam's)."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        for parameter in PARAMETERS:
            if not parameter.beam_option:
                parser.add_argument(
                    f"--{parameter.name}",
                    default=parameter.default,
                    help=f"{parameter.help} Form: {parameter.expected}.",
                )


@dataclass(frozen=True)
class JobConfig:
    """The validated parameters the pipeline is built from; exactly one input is set."""

    dead_letter_topic: str
    bigtable_project: str
    bigtable_instance: str
    bigtable_table: str
    column_family: str
    input_subscription: str | None = None
    input_file: str | None = None
    bigtable_app_profile: str = ""
    rollups_table: str | None = None
    """Where the rollups go (family ``agg``); None: no rollups."""
    rollup_allowed_lateness_seconds: int = 3600
    forgotten_table: str | None = None
    """The forgotten users' table (``transactions.forgotten``); None: no such list."""
    forgotten_refresh_seconds: int = DEFAULT_REFRESH_SECONDS

    @property
    def streaming(self) -> bool:
        """A subscription makes a streaming job; a file makes a batch backfill."""
        return self.input_subscription is not None


def runs_locally(options: PipelineOptions) -> bool:
    return options.view_as(StandardOptions).runner in LOCAL_RUNNERS


def resolve_config(options: PipelineOptions) -> JobConfig:
    """Check every parameter's presence and form; raise :class:`ConfigError` on the first bad one."""
    params = options.view_as(TransactionsOptions)
    bigtable_project = params.bigtable_project or options.view_as(GoogleCloudOptions).project
    if not bigtable_project:
        expected = BY_NAME["bigtable_project"].expected
        raise ConfigError(f"--bigtable_project: missing; set it or the job's --project (expected {expected})")
    if (params.input_subscription is None) == (params.input_file is None):
        raise ConfigError(
            "--input_subscription / --input_file: set exactly one of them (a subscription streams; "
            f"a file backfills), got {'both' if params.input_subscription else 'neither'}"
        )
    return JobConfig(
        input_subscription=_optional("input_subscription", params.input_subscription),
        input_file=_input_file(params.input_file, runs_locally(options)),
        dead_letter_topic=_check("dead_letter_topic", params.dead_letter_topic),
        bigtable_project=_check("bigtable_project", bigtable_project),
        bigtable_instance=_check("bigtable_instance", params.bigtable_instance),
        bigtable_table=_check("bigtable_table", params.bigtable_table),
        column_family=_check("column_family", params.column_family),
        bigtable_app_profile=_check("bigtable_app_profile", params.bigtable_app_profile or ""),
        rollups_table=_optional("rollups_table", params.rollups_table or None),
        rollup_allowed_lateness_seconds=resource_names.duration_seconds(
            _check("rollup_allowed_lateness", params.rollup_allowed_lateness)
        ),
        forgotten_table=_optional("forgotten_table", params.forgotten_table or None),
        forgotten_refresh_seconds=_refresh_seconds(params.forgotten_refresh),
    )


def _refresh_seconds(value: str | None) -> int:
    """``forgotten_refresh``'s seconds: its form is 1 s to 1 h (:data:`MAX_REFRESH_SECONDS`)."""
    return resource_names.duration_seconds(_check("forgotten_refresh", value))


def _input_file(value: str | None, local: bool) -> str | None:
    if value is None or not local or resource_names.is_valid("gcs_path", value):
        return _optional("input_file", value)
    if value and LOCAL_PATH.fullmatch(value):
        return value
    raise ConfigError(
        f"--input_file: {excerpt(value)} is not {BY_NAME['input_file'].expected}, nor a local path without ':'"
    )


def _optional(name: str, value: str | None) -> str | None:
    return None if value is None else _check(name, value)


def _check(name: str, value: str | None) -> str:
    parameter = BY_NAME[name]
    if value is None or (value == "" and not parameter.form.fullmatch("")):
        raise ConfigError(f"--{name}: missing (expected {parameter.expected})")
    if not parameter.form.fullmatch(value):
        raise ConfigError(f"--{name}: {excerpt(value)} is not {parameter.expected}")
    return value


def choose_local_runner(options: PipelineOptions) -> None:
    """Name a local runner explicitly so nothing is downloaded.

    ``DirectRunner`` first tries to download the Prism runner; on a machine without internet
    that waits and then falls back. Streaming runs use the Python direct runner that supports
    Pub/Sub (``BundleBasedDirectRunner``); batch runs use the ``FnApiRunner``.
    """
    standard = options.view_as(StandardOptions)
    if standard.runner in (None, "DirectRunner", "SwitchingDirectRunner"):
        standard.runner = "BundleBasedDirectRunner" if standard.streaming else "FnApiRunner"
