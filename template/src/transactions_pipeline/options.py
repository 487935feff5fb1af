"""The template's public parameters, and their validation at launch.

The parameter names are the interface that ``metadata.json`` and operators use. Beam parses
them; :func:`resolve_config` checks their form and fails with a message that names the
parameter and the expected form, before anything is built or launched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from apache_beam.options.pipeline_options import (
    GoogleCloudOptions,
    PipelineOptions,
    StandardOptions,
)

from transactions import layout, resource_names

_KIND_OF = {
    "input_subscription": "subscription",
    "dead_letter_topic": "topic",
    "bigtable_project": "project",
    "bigtable_instance": "bigtable_instance",
    "bigtable_table": "bigtable_table",
    "column_family": "column_family",
    "bigtable_app_profile": "app_profile",
}
"""Parameter name -> the kind of resource name it holds (:mod:`transactions.resource_names`)."""
_LOCAL_PATH = r"[^:\x00-\x1f]+"  # a local path without ':' (so s3://, http:// are refused)

FORMS = {name: resource_names.FORMS[kind] for name, kind in _KIND_OF.items()}
FORMS["input_file"] = re.compile(rf"(?:{resource_names.FORMS['gcs_path'].pattern}|{_LOCAL_PATH})")
"""Parameter name -> its form; metadata.json's regexes are these, anchored (tests check it)."""

PARAMETERS = {name: resource_names.DESCRIPTIONS[kind] for name, kind in _KIND_OF.items()}
PARAMETERS["input_file"] = (
    "gs://<bucket>/<path> or a local path without ':', glob allowed (e.g. gs://my-bucket/sales/*.csv)"
)
"""Parameter name -> the expected form, as printed in launch errors."""


class ConfigError(ValueError):
    """A parameter is missing or malformed; the message names it and the expected form."""


class TransactionsOptions(PipelineOptions):
    """Parameters of the template (see ``metadata.json`` for their launch-form labels)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--input_subscription",
            help="Stream: the Pub/Sub subscription to read transactions from: " + PARAMETERS["input_subscription"],
        )
        parser.add_argument(
            "--input_file",
            help="Backfill (a batch job): the Kaggle-format CSV file(s) to read: " + PARAMETERS["input_file"],
        )
        parser.add_argument(
            "--bigtable_project",
            help="Project of the Bigtable instance; defaults to the job's --project.",
        )
        parser.add_argument("--bigtable_instance", help="Bigtable instance id.")
        parser.add_argument("--bigtable_table", help="Bigtable table id, e.g. transacoes.")
        parser.add_argument(
            "--dead_letter_topic",
            help="Pub/Sub topic for messages that are not written: " + PARAMETERS["dead_letter_topic"],
        )
        parser.add_argument(
            "--column_family",
            default=layout.FAMILY,
            help=f"Column family of the cells (default {layout.FAMILY}).",
        )
        parser.add_argument(
            "--bigtable_app_profile",
            default="",
            help="Bigtable app profile id for the writes (default: the instance's default profile).",
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

    @property
    def streaming(self) -> bool:
        """A subscription makes a streaming job; a file makes a batch backfill."""
        return self.input_subscription is not None


def resolve_config(options: PipelineOptions) -> JobConfig:
    """Check every parameter's presence and form; raise :class:`ConfigError` on the first bad one."""
    params = options.view_as(TransactionsOptions)
    project = options.view_as(GoogleCloudOptions).project
    bigtable_project = params.bigtable_project or project
    if not bigtable_project:
        raise ConfigError(
            f"--bigtable_project: missing; set it or the job's --project (expected {PARAMETERS['bigtable_project']})"
        )
    if (params.input_subscription is None) == (params.input_file is None):
        raise ConfigError(
            "--input_subscription / --input_file: set exactly one of them (a subscription streams; "
            f"a file backfills), got {'both' if params.input_subscription else 'neither'}"
        )
    return JobConfig(
        input_subscription=_optional("input_subscription", params.input_subscription),
        input_file=_optional("input_file", params.input_file),
        dead_letter_topic=_check("dead_letter_topic", params.dead_letter_topic),
        bigtable_project=_check("bigtable_project", bigtable_project),
        bigtable_instance=_check("bigtable_instance", params.bigtable_instance),
        bigtable_table=_check("bigtable_table", params.bigtable_table),
        column_family=_check("column_family", params.column_family),
        bigtable_app_profile=_check("bigtable_app_profile", params.bigtable_app_profile or ""),
    )


def _optional(name: str, value: str | None) -> str | None:
    return None if value is None else _check(name, value)


def _check(name: str, value: str | None) -> str:
    form = FORMS[name]
    if value is None or (value == "" and not form.fullmatch("")):
        raise ConfigError(f"--{name}: missing (expected {PARAMETERS[name]})")
    if not form.fullmatch(value):
        raise ConfigError(f"--{name}: {value!r} is not {PARAMETERS[name]}")
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
