"""The two templates' parameters, in one table: names, forms, help, examples, defaults.

Everything about a parameter is said once, here. The pipeline's options and launch errors read
it (:mod:`transactions_pipeline.options`); so does ``transacoes-template-metadata``, which writes
``metadata.json`` (the stream) and ``metadata-backfill.json`` (the backfill), the files the
Console draws its launch form from. A test fails when those files drift from this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from transactions import forgotten, layout, resource_names, rollup_layout

STREAM = "transacoes-stream"
BACKFILL = "transacoes-backfill"
TEMPLATES = (STREAM, BACKFILL)

STREAMING_MODE = "EXACTLY_ONCE"
"""The stream's default mode, the metadata's ``defaultStreamingMode`` (the one default, for the
Console and the CLI alike; ``docs/deploy.md``, "Streaming mode"): Dataflow's own deduplication of
redeliveries (``id_label``) works only in this mode. At-least-once is supported, and cheaper:
transaction rows are idempotent (event-time cells), and the rollups count each transaction id once;
a launch picks it with ``--additional-experiments=streaming_mode_at_least_once``."""

TEMPLATE_IMAGE_VARIABLE = "TRANSACOES_TEMPLATE_IMAGE"
"""Set in the template image by its build: the image's own name, for the workers."""


@dataclass(frozen=True)
class Parameter:
    """One launch parameter, as the Console form, the launcher and the job all see it."""

    name: str
    label: str
    help: str
    example: str
    kind: str
    """Its form: a kind of :mod:`transactions.resource_names`."""
    templates: tuple[str, ...] = TEMPLATES
    required: bool = False
    default: str | None = None
    param_type: str = "TEXT"
    group: str = "Target"
    beam_option: bool = False
    """Declared by Beam itself (a worker option), not by the template's own options."""

    @property
    def form(self) -> re.Pattern:
        return resource_names.FORMS[self.kind]

    @property
    def expected(self) -> str:
        """The form, as a launch error prints it."""
        return resource_names.DESCRIPTIONS[self.kind]

    @property
    def help_text(self) -> str:
        """What the launch form shows: the help, then an example."""
        return f"{self.help} For example: {self.example}"


PARAMETERS = (
    Parameter(
        "input_subscription",
        "Input Pub/Sub subscription",
        "The subscription to read transactions from: one contract-v1 JSON object per message. "
        "A message is acknowledged only after its row is written or its dead letter published.",
        "projects/my-project/subscriptions/transacoes-pipeline",
        "subscription",
        templates=(STREAM,),
        required=True,
        param_type="PUBSUB_SUBSCRIPTION",
        group="Source",
    ),
    Parameter(
        "input_file",
        "Input CSV file(s)",
        "The Kaggle-format sales CSV to load as a batch job; a glob matches several files. Compressed "
        "files (.gz, .bz2, .zst, .deflate, .xz) are read by their extension, each by one worker. Ids and "
        "event times come from the file and the purchase date, so the same backfill run twice "
        "rewrites the same cells.",
        "gs://my-bucket/sales/*.csv",
        "gcs_path",
        templates=(BACKFILL,),
        required=True,
        param_type="GCS_READ_FILE",
        group="Source",
    ),
    Parameter(
        "dead_letter_topic",
        "Dead-letter Pub/Sub topic",
        "What cannot be written goes here, with its original bytes and the error_stage, "
        "error_reason, error_detail and failed_at attributes; nothing is dropped. The job's "
        "service account must be able to publish to it.",
        "projects/my-project/topics/transacoes-dead-letter",
        "topic",
        required=True,
        param_type="PUBSUB_TOPIC",
        group="Dead letters",
    ),
    Parameter(
        "bigtable_instance",
        "Bigtable instance ID",
        "The Bigtable instance that holds the table.",
        "transacoes-prod",
        "bigtable_instance",
        required=True,
    ),
    Parameter(
        "bigtable_table",
        "Bigtable table ID",
        "The table to write to. It must exist, with the column family, when the job starts "
        "(transacoes-provision creates both).",
        layout.DEFAULT_TABLE,
        "bigtable_table",
        required=True,
    ),
    Parameter(
        "bigtable_project",
        "Bigtable project ID",
        "The project of the Bigtable instance. Empty means the project the job runs in.",
        "my-project",
        "project",
    ),
    Parameter(
        "column_family",
        "Column family",
        f"The column family of the cells (garbage collection: keep one version). Defaults to {layout.FAMILY}.",
        layout.FAMILY,
        "column_family",
        default=layout.FAMILY,
    ),
    Parameter(
        "bigtable_app_profile",
        "Bigtable app profile ID",
        "The app profile for the writes; it must exist. Empty means the instance's default profile. "
        "A backfill next to a live stream should use a profile with low request priority.",
        "backfill-low-priority",
        "app_profile",
        default="",
    ),
    Parameter(
        "rollups_table",
        "Rollups Bigtable table ID",
        "Also keep live totals in this table: per category and minute, and per user and day, in "
        f"event time, exact across restarts and backfills (families '{rollup_layout.FAMILY}' and "
        f"'{rollup_layout.IDS_FAMILY}', which transacoes-provision creates). Empty "
        "means no rollups: the job then writes transaction rows only.",
        "transacoes_rollups",
        "bigtable_table",
        default="",
        group="Rollups",
    ),
    Parameter(
        "rollup_allowed_lateness",
        "Rollup allowed lateness",
        "How late (past the end of its minute or day) an event may arrive and still update its "
        "rollup; a later one is counted in rollup_too_late, and its transaction row is still written.",
        "1h",
        "duration",
        default="1h",
        group="Rollups",
    ),
    Parameter(
        "forgotten_table",
        "Forgotten users Bigtable table ID",
        "Users who asked to be forgotten (transacoes-forget records them; family "
        f"'{forgotten.FAMILY}', which transacoes-provision creates): a record of theirs from before the "
        "request is neither written nor dead-lettered, and is counted in forgotten_user. Empty means "
        "no such list: a rewind, a replay or a backfill would write a forgotten user's data again.",
        forgotten.DEFAULT_TABLE,
        "bigtable_table_or_empty",
        default=forgotten.DEFAULT_TABLE,
        group="Forgotten users",
    ),
    Parameter(
        "forgotten_refresh",
        "Forgotten users refresh",
        "How often the job reads the forgotten users again (at least every minute by default). "
        f"transacoes-forget waits this long, and {forgotten.SETTLE_SECONDS} s more, before it deletes: "
        "raise its --wait-for-jobs with it.",
        "60s",
        "refresh",
        default=f"{forgotten.DEFAULT_REFRESH_SECONDS}s",
        group="Forgotten users",
    ),
    Parameter(
        "sdk_container_image",
        "Worker image",
        "The image the workers run: this template's own image, which carries the pipeline. The "
        "build sets the default to the image it pushed; change it only to roll back to an older one.",
        "us-central1-docker.pkg.dev/my-project/dataflow/transacoes-template:v1.0.0",
        "container_image",
        group="Workers",
        beam_option=True,
    ),
)

BY_NAME = {parameter.name: parameter for parameter in PARAMETERS}


def of_template(template: str) -> tuple[Parameter, ...]:
    """The parameters of one template, in form order."""
    return tuple(p for p in PARAMETERS if template in p.templates)
