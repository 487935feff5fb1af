"""The forms of Google Cloud resource ids and paths that the system accepts, named once.

Each form is a regular expression with no look-arounds or back-references, so that the same
text also compiles in RE2 (the Dataflow launch form checks parameters with it) and in
JavaScript. The pipeline's parameters, the producer and the operator tools all check names
against these forms, and print ``DESCRIPTIONS`` when a value does not fit.
"""

from __future__ import annotations

import re

_PROJECT = r"[a-z][-a-z0-9:.]{4,61}[a-z0-9]"
_PUBSUB_ID = r"[A-Za-z][-A-Za-z0-9._~+%]{2,254}"

FORMS = {
    "project": re.compile(_PROJECT),
    "pubsub_id": re.compile(_PUBSUB_ID),
    "topic": re.compile(rf"projects/{_PROJECT}/topics/{_PUBSUB_ID}"),
    "subscription": re.compile(rf"projects/{_PROJECT}/subscriptions/{_PUBSUB_ID}"),
    "bigtable_instance": re.compile(r"[a-z][-a-z0-9]{4,31}[a-z0-9]"),
    "bigtable_table": re.compile(r"[-_.a-zA-Z0-9]{1,50}"),
    "bigtable_table_or_empty": re.compile(r"[-_.a-zA-Z0-9]{0,50}"),
    "column_family": re.compile(r"[-_.a-zA-Z0-9]{1,64}"),
    "app_profile": re.compile(r"[-_a-zA-Z0-9]{0,50}"),
    "duration": re.compile(r"(0|[1-9][0-9]{0,6}[smh])"),
    # 1 s to 1 h, in RE2 as well: 1-3600s, 1-60m, 1h
    "refresh": re.compile(
        r"(([1-9]|[1-9][0-9]|[1-9][0-9]{2}|[12][0-9]{3}|3[0-5][0-9]{2}|3600)s|([1-9]|[1-5][0-9]|60)m|1h)"
    ),
    # A bucket, then an object name or a glob; control characters never.
    "gcs_path": re.compile(r"gs://[a-z0-9][-_.a-z0-9]{1,220}[a-z0-9]/[^\x00-\x1f]+"),
    # registry host[:port]/path, then a tag or a digest (Artifact Registry, gcr.io, Docker Hub).
    "container_image": re.compile(
        r"[a-z0-9][-a-z0-9.]*(?::[0-9]{1,5})?/[a-z0-9][-a-z0-9._/]*(?::[A-Za-z0-9_][-A-Za-z0-9_.]{0,127}|@sha256:[0-9a-f]{64})?"
    ),
}
"""Kind of name -> its form (match with ``fullmatch``)."""

DESCRIPTIONS = {
    "project": "a project id: 6-30 characters of a-z, 0-9 and '-', starting with a letter",
    "pubsub_id": "a topic or subscription id: 3-255 characters of letters, digits and -._~+%, starting with a letter",
    "topic": "projects/<project>/topics/<topic>",
    "subscription": "projects/<project>/subscriptions/<subscription>",
    "bigtable_instance": "an instance id: 6-33 characters of a-z, 0-9 and '-', starting with a letter",
    "bigtable_table": "a table id: 1-50 characters of a-z, A-Z, 0-9, '_', '-' and '.'",
    "bigtable_table_or_empty": "a table id (1-50 characters of a-z, A-Z, 0-9, '_', '-' and '.'), or empty for none",
    "column_family": "a column family name: 1-64 characters of a-z, A-Z, 0-9, '_', '-' and '.'",
    "app_profile": "an app profile id: letters, digits, '_' and '-'",
    "duration": "a whole number of seconds, minutes or hours: 90s, 30m, 1h (or 0)",
    "refresh": "from 1s to 1h, in whole seconds, minutes or hours: 30s, 5m, 1h",
    "gcs_path": "gs://<bucket>/<path>, glob allowed (e.g. gs://my-bucket/sales/*.csv)",
    "container_image": "<registry>/<path>:<tag> or <registry>/<path>@sha256:<digest>",
}
"""Kind of name -> the expected form, as error messages print it."""


def is_valid(kind: str, value: str) -> bool:
    return FORMS[kind].fullmatch(value) is not None


_SECONDS_PER = {"s": 1, "m": 60, "h": 3600}


def duration_seconds(value: str) -> int:
    """The seconds of a ``duration`` (``90s``, ``30m``, ``1h``, ``0``)."""
    return 0 if value == "0" else int(value[:-1]) * _SECONDS_PER[value[-1]]


def topic_path(project: str, topic: str) -> str:
    return f"projects/{project}/topics/{topic}"


def subscription_path(project: str, subscription: str) -> str:
    return f"projects/{project}/subscriptions/{subscription}"


def table_path(project: str, instance: str, table: str) -> str:
    return f"projects/{project}/instances/{instance}/tables/{table}"


def project_of(path: str) -> str:
    """``my-project`` of ``projects/my-project/topics/t`` (or of a subscription path)."""
    return path.split("/", 2)[1]


def short_name(path: str) -> str:
    """``t`` of ``projects/my-project/topics/t``: the last segment of a resource path."""
    return path.rsplit("/", 1)[-1]
