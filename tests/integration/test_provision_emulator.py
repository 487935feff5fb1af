"""``transacoes-provision`` on the emulators: what it creates, as the service will keep it."""

import google.cloud.pubsub_v1 as pubsub_v1
import pytest
from google.cloud import bigtable

from tests.integration.harness import INSTANCE, PROJECT, provision_for_test
from transactions_tools import defaults
from transactions_tools.provision import provision

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
    finally:
        subscriber.close()
    instance = bigtable.Client(project=PROJECT, admin=True).instance(INSTANCE)
    assert set(instance.table(resources.table).list_column_families()) == {defaults.COLUMN_FAMILY}
    assert set(instance.table(resources.rollups_table).list_column_families()) == set(defaults.ROLLUP_FAMILIES)


def test_provisioning_again_changes_nothing_and_says_so(emulators, unique):
    resources = provision_for_test(unique)
    said: list[str] = []
    provision(resources, log=said.append)
    assert said and all(line.startswith("exists: ") for line in said), said
