"""``transacoes-provision`` on the emulators: what it creates, as the service will keep it."""

import google.cloud.pubsub_v1 as pubsub_v1
import pytest
from google.cloud import bigtable

from tests.integration.harness import INSTANCE, PROJECT, provision_for_test
from transactions_tools import defaults
from transactions_tools.provision import gc_rule, provision

pytestmark = pytest.mark.integration


def test_both_subscriptions_never_expire_and_the_tables_have_their_families(emulators, unique):
    resources = provision_for_test(unique)
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for name in (resources.subscription, resources.dead_letter_subscription):
            subscription = subscriber.get_subscription(subscription=resources.subscription_path(name))
            pb = type(subscription).pb(subscription)
            assert pb.ack_deadline_seconds == 60
            assert pb.HasField("expiration_policy") and not pb.expiration_policy.HasField("ttl"), "never expires"
            # the input subscription keeps acknowledged messages a week, for transacoes-rewind
            retained = (True, 604800) if name == resources.subscription else (False,)
            assert (pb.retain_acked_messages, pb.message_retention_duration.seconds)[: len(retained)] == retained
    finally:
        subscriber.close()
    instance = bigtable.Client(project=PROJECT, admin=True).instance(INSTANCE)
    families = {
        **instance.table(resources.table).list_column_families(),
        **instance.table(resources.rollups_table).list_column_families(),
    }
    assert {name: family.gc_rule for name, family in families.items()} == {
        name: gc_rule(name) for name in (defaults.COLUMN_FAMILY, *defaults.ROLLUP_FAMILIES)
    }, "transactions.retention's table, as the emulator keeps it"


def test_provisioning_again_changes_nothing_and_says_so(emulators, unique):
    resources = provision_for_test(unique)
    said: list[str] = []
    provision(resources, log=said.append)
    assert said and all(line.startswith("exists: ") for line in said), said
