"""Create the job's resources, idempotently, on the emulators or in a real project.

Topic and subscription for the transactions, the dead-letter topic and a subscription on it
(so dead letters are kept until someone reads them), both subscriptions with a 60 s ack
deadline and no expiration; the Bigtable table with its column family, and the rollups table
with its families ``agg`` and ``ids`` (GC rule: keep one version, for all). Existing resources
are left as they are; ``--rollups-table ''`` skips the rollups table. ``deploy/infra`` declares
the same (``tests/unit/deploy/test_infra.py`` keeps the two equal).

    transacoes-provision --project=P --instance=I [--table=transacoes] ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as api_exceptions

from transactions import resource_names
from transactions.cli_errors import ArgumentParser, check_names, run_against_google
from transactions_tools import defaults
from transactions_wire import clients

Log = Callable[[str], None]

DEFAULTS = {
    "topic": defaults.TOPIC,
    "subscription": defaults.SUBSCRIPTION,
    "dead_letter_topic": defaults.DEAD_LETTER_TOPIC,
    "dead_letter_subscription": defaults.DEAD_LETTER_SUBSCRIPTION,
    "table": defaults.TABLE,
    "rollups_table": defaults.ROLLUPS_TABLE,
}


ACK_DEADLINE_SECONDS = 60
"""Of both subscriptions: a bundle's write (with its retries) settles well within it."""


@dataclass(frozen=True)
class Resources:
    project: str
    instance: str
    table: str = DEFAULTS["table"]
    column_family: str = defaults.COLUMN_FAMILY
    topic: str = DEFAULTS["topic"]
    subscription: str = DEFAULTS["subscription"]
    dead_letter_topic: str = DEFAULTS["dead_letter_topic"]
    dead_letter_subscription: str = DEFAULTS["dead_letter_subscription"]
    bigtable_project: str | None = None
    rollups_table: str = DEFAULTS["rollups_table"]
    """Empty: no rollups table."""

    def topic_path(self, name: str) -> str:
        return resource_names.topic_path(self.project, name)

    def subscription_path(self, name: str) -> str:
        return resource_names.subscription_path(self.project, name)


def provision(resources: Resources, log: Log = print) -> None:
    """Create whatever of ``resources`` is missing."""
    with clients.pubsub_publisher() as publisher, clients.pubsub_subscriber() as subscriber:
        for topic in (resources.topic, resources.dead_letter_topic):
            _create(
                lambda t=topic: publisher.create_topic(name=resources.topic_path(t)),
                f"topic {resources.topic_path(topic)}",
                log,
            )
        for subscription, topic in (
            (resources.subscription, resources.topic),
            (resources.dead_letter_subscription, resources.dead_letter_topic),
        ):
            _create(
                lambda s=subscription, t=topic: subscriber.create_subscription(
                    request={
                        "name": resources.subscription_path(s),
                        "topic": resources.topic_path(t),
                        "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
                        # present and empty: never expires (Pub/Sub deletes a subscription idle
                        # for 31 days otherwise, and with it a stopped job's backlog or the dead letters)
                        "expiration_policy": {},
                    }
                ),
                f"subscription {resources.subscription_path(subscription)}",
                log,
            )
    bigtable_project = resources.bigtable_project or resources.project
    create_table(bigtable_project, resources.instance, resources.table, (resources.column_family,), log)
    if resources.rollups_table:
        create_table(bigtable_project, resources.instance, resources.rollups_table, defaults.ROLLUP_FAMILIES, log)


def create_table(project: str, instance: str, table_id: str, families: tuple[str, ...], log: Log = print) -> None:
    """The table with ``families``, each keeping one version; adds a missing family to an existing table."""
    name = resource_names.table_path(project, instance, table_id)
    with clients.bigtable_admin(project) as client:
        _create_table(client.instance(instance).table(table_id), name, families, log)


def _create_table(table: Any, name: str, families: tuple[str, ...], log: Log) -> None:
    from google.cloud.bigtable import column_family

    keep_one = column_family.MaxVersionsGCRule(1)
    if not table.exists():
        _create(
            lambda: table.create(column_families=dict.fromkeys(families, keep_one)),
            f"table {name} ({', '.join(families)})",
            log,
        )
        return
    present = table.list_column_families()
    for family in families:
        if family not in present:
            table.column_family(family, keep_one).create()
            log(f"created column family {family} in {name}")
        else:
            log(f"exists: table {name} with family {family}")


def _create(action: Callable[..., object], what: str, log: Log) -> None:
    """Call ``action`` (with no arguments: the callers' lambdas bind theirs as defaults)."""
    try:
        action()
        log(f"created {what}")
    except api_exceptions.AlreadyExists:
        log(f"exists: {what}")


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="transacoes-provision", description=__doc__.split("\n")[0])
    parser.add_argument("--project", required=True, help="project of the Pub/Sub resources")
    parser.add_argument("--instance", required=True, help="Bigtable instance id (must exist in a real project)")
    parser.add_argument("--bigtable-project", help="project of the Bigtable instance (default: --project)")
    for name, default in DEFAULTS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", default=default, help=f"default {default}")
    parser.add_argument("--column-family", default=defaults.COLUMN_FAMILY)
    args = parser.parse_args(argv)
    check_names(parser, args, NAMED_OPTIONS, may_be_empty=("rollups_table",))
    resources = Resources(
        project=args.project,
        instance=args.instance,
        table=args.table,
        column_family=args.column_family,
        topic=args.topic,
        subscription=args.subscription,
        dead_letter_topic=args.dead_letter_topic,
        dead_letter_subscription=args.dead_letter_subscription,
        bigtable_project=args.bigtable_project,
        rollups_table=args.rollups_table,
    )

    def provision_all() -> int:
        provision(resources)
        return 0

    return run_against_google(provision_all, "provisioning", 1)


NAMED_OPTIONS = (
    ("project", "project"),
    ("bigtable_project", "project"),
    ("instance", "bigtable_instance"),
    ("table", "bigtable_table"),
    ("rollups_table", "bigtable_table"),
    ("column_family", "column_family"),
    ("topic", "pubsub_id"),
    ("subscription", "pubsub_id"),
    ("dead_letter_topic", "pubsub_id"),
    ("dead_letter_subscription", "pubsub_id"),
)


if __name__ == "__main__":
    sys.exit(main())
