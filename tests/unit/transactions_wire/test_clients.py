"""Every client opened through :mod:`transactions_wire.clients` leaves no channel open.

No emulator is needed: opening and closing a client makes no call (the emulator variables point
at an address nothing listens on), and :mod:`tests.channels` records and probes the channels.
"""

from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.channels import is_closed, recorded_channels
from transactions_wire import clients


@pytest.mark.parametrize(
    ("opener", "use"),
    [
        (lambda: clients.bigtable_data("p"), lambda client: client.get_table("i", "t")),
        (lambda: clients.bigtable_admin("p"), lambda client: (client.table_data_client, client.table_admin_client)),
        (lambda: clients.pubsub_publisher(), lambda publisher: publisher.api),
        (lambda: clients.pubsub_subscriber(), lambda subscriber: subscriber.api),
        (lambda: clients.pubsub_subscriber(max_receive_bytes=20_000_000), lambda subscriber: subscriber.api),
    ],
    ids=["bigtable_data", "bigtable_admin", "pubsub_publisher", "pubsub_subscriber", "pubsub_subscriber_large"],
)
def test_every_channel_a_client_opened_is_closed_on_the_way_out(monkeypatch, opener, use):
    with recorded_channels(monkeypatch) as made:
        context: AbstractContextManager[Any] = opener()
        with context as client:
            use(client)
            assert made and not any(is_closed(channel) for channel in made)
        assert [is_closed(channel) for channel in made] == [True] * len(made)


def test_the_classic_bigtable_client_close_alone_leaves_its_channel_open(monkeypatch):
    """Why :func:`clients.bigtable_admin` closes each lazily built client: the probe can fail."""
    from google.cloud import bigtable

    with recorded_channels(monkeypatch) as made:
        client = bigtable.Client(project="p")
        _ = client.table_data_client
        client.close()
        assert made and not all(is_closed(channel) for channel in made)
        clients.close_bigtable_client(client)
        assert all(is_closed(channel) for channel in made)
