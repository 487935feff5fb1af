"""Create the job's resources, idempotently, on the emulators or in a real project.

Topic and subscription for the transactions, the dead-letter topic and a subscription on it
(so dead letters are kept until someone reads them), both subscriptions with a 60 s ack
deadline and no expiration; the input subscription keeps acknowledged messages for 7 days, so
the job can be rewound (``transacoes-rewind``). The Bigtable table with its column family, and
the rollups table with its families ``agg`` and ``ids``, the forgotten users' table with its
family ``forgotten`` (``transactions.forgotten``), each with its garbage-collection rule
from :data:`transactions.retention.GC_RULES` (a max age in event time, or one version). Existing
resources are left as they are, except two things brought to the retention table: a family's GC
rule and the input subscription's retention of acknowledged messages (a deployment made before
them gets them). ``--rollups-table ''`` skips the rollups table, ``--forgotten-table ''`` the
forgotten users'. ``deploy/infra`` declares the same (``tests/unit/deploy/test_infra.py`` keeps
the two equal).

    transacoes-provision --project=P --instance=I [--table=transacoes] ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as api_exceptions

from transactions import resource_names, retention
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
    "forgotten_table": defaults.FORGOTTEN_TABLE,
}


ACK_DEADLINE_SECONDS = 60
"""Of both subscriptions: a bundle's write (with its retries) settles well within it."""
INPUT_RETENTION = {
    "retain_acked_messages": True,
    "message_retention_duration": {"seconds": retention.SUBSCRIPTION_RETENTION_SECONDS},
}
"""Of the input subscription: acknowledged messages are kept, so ``transacoes-rewind`` can seek back."""


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
    forgotten_table: str = DEFAULTS["forgotten_table"]
    """Who asked to be forgotten (``transactions.forgotten``); empty: no such table."""

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
        for subscription, topic, retained in (
            (resources.subscription, resources.topic, INPUT_RETENTION),
            (resources.dead_letter_subscription, resources.dead_letter_topic, {}),
        ):
            created = _create(
                lambda s=subscription, t=topic, r=retained: subscriber.create_subscription(
                    request={
                        "name": resources.subscription_path(s),
                        "topic": resources.topic_path(t),
                        "ack_deadline_seconds": ACK_DEADLINE_SECONDS,
                        # present and empty: never expires (Pub/Sub deletes a subscription idle
                        # for 31 days otherwise, and with it a stopped job's backlog or the dead letters)
                        "expiration_policy": {},
                        **r,
                    }
                ),
                f"subscription {resources.subscription_path(subscription)}",
                log,
            )
            if retained and not created:
                _retain_acked(subscriber, resources.subscription_path(subscription), log)
    bigtable_project = resources.bigtable_project or resources.project
    create_table(bigtable_project, resources.instance, resources.table, (resources.column_family,), log)
    if resources.rollups_table:
        create_table(bigtable_project, resources.instance, resources.rollups_table, defaults.ROLLUP_FAMILIES, log)
    if resources.forgotten_table:
        create_table(bigtable_project, resources.instance, resources.forgotten_table, defaults.FORGOTTEN_FAMILIES, log)


def _retain_acked(subscriber: Any, path: str, log: Log) -> None:
    """Give an existing input subscription :data:`INPUT_RETENTION`, if it has not got it."""
    current = subscriber.get_subscription(subscription=path)
    duration = current.message_retention_duration
    seconds = int(duration.total_seconds()) if duration is not None else 0
    if current.retain_acked_messages and seconds == retention.SUBSCRIPTION_RETENTION_SECONDS:
        return
    subscriber.update_subscription(
        request={
            "subscription": {"name": path, **INPUT_RETENTION},
            "update_mask": {"paths": list(INPUT_RETENTION)},
        }
    )
    log(f"updated subscription {path}: keeps acknowledged messages {retention.SUBSCRIPTION_RETENTION_DAYS} days")


def gc_rule(family: str) -> Any:
    """``family``'s rule of :data:`transactions.retention.GC_RULES` as the client's GC rule: a
    union (a cell goes when it is too old *or* not among the newest versions)."""
    from datetime import timedelta

    from google.cloud.bigtable import column_family

    rule = retention.GC_RULES[family]
    return column_family.GCRuleUnion(
        [
            column_family.MaxVersionsGCRule(rule.max_versions),
            column_family.MaxAgeGCRule(timedelta(days=rule.max_age_days)),
        ]
    )


def create_table(project: str, instance: str, table_id: str, families: tuple[str, ...], log: Log = print) -> None:
    """The table with ``families``, each with its GC rule (:func:`gc_rule`); adds a missing family
    to an existing table and brings an existing family's rule to the table's."""
    name = resource_names.table_path(project, instance, table_id)
    with clients.bigtable_admin(project) as client:
        _create_table(client.instance(instance).table(table_id), name, families, log)


def _create_table(table: Any, name: str, families: tuple[str, ...], log: Log) -> None:
    if not table.exists():
        _create(
            lambda: table.create(column_families={family: gc_rule(family) for family in families}),
            f"table {name} ({', '.join(families)})",
            log,
        )
        return
    present = table.list_column_families()
    for family in families:
        if family not in present:
            table.column_family(family, gc_rule(family)).create()
            log(f"created column family {family} in {name}")
        elif present[family].gc_rule != gc_rule(family):
            table.column_family(family, gc_rule(family)).update()
            log(f"updated the GC rule of family {family} in {name}: {retention.GC_RULES[family].cbt()}")
        else:
            log(f"exists: table {name} with family {family}")


def _create(action: Callable[..., object], what: str, log: Log) -> bool:
    """Call ``action`` (with no arguments: the callers' lambdas bind theirs as defaults); whether
    it created the resource (False: it was there)."""
    try:
        action()
        log(f"created {what}")
        return True
    except api_exceptions.AlreadyExists:
        log(f"exists: {what}")
        return False


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="transacoes-provision", description=__doc__.split("\n")[0])
    parser.add_argument("--project", required=True, help="project of the Pub/Sub resources")
    parser.add_argument("--instance", required=True, help="Bigtable instance id (must exist in a real project)")
    parser.add_argument("--bigtable-project", help="project of the Bigtable instance (default: --project)")
    for name, default in DEFAULTS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", default=default, help=f"default {default}")
    parser.add_argument("--column-family", default=defaults.COLUMN_FAMILY)
    args = parser.parse_args(argv)
    check_names(parser, args, NAMED_OPTIONS, may_be_empty=("rollups_table", "forgotten_table"))
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
        forgotten_table=args.forgotten_table,
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
    ("forgotten_table", "bigtable_table"),
    ("column_family", "column_family"),
    ("topic", "pubsub_id"),
    ("subscription", "pubsub_id"),
    ("dead_letter_topic", "pubsub_id"),
    ("dead_letter_subscription", "pubsub_id"),
)


if __name__ == "__main__":
    sys.exit(main())
