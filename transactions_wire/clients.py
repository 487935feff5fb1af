"""One way to open and close every Google client this project uses: a context manager each.

A client that is not closed keeps its gRPC channel (a socket, and threads) until the process
ends: harmless in a short command, a leak in a DoFn that Beam sets up again and again on a
long-running worker. Each function below opens the library's own client (so Application
Default Credentials, the endpoint, the routing headers and the ``*_EMULATOR_HOST`` switch stay
the library's) and, on the way out, closes every channel it opened. A command uses ``with``; a
DoFn enters the client into an :class:`contextlib.ExitStack` in ``setup`` and closes the stack
in ``teardown``.

Why each close is what it is:

- :func:`bigtable_data`: python-bigtable's data client (``google.cloud.bigtable.data``), whose
  ``close()`` closes its transport's channel. Background channel refresh is off, as the classic
  client's own data shim has it: a refresh swaps the channel under the raw ``MutateRows`` stub
  that :mod:`transactions_wire.bigtable` makes on it.
- :func:`bigtable_admin`: the classic ``google.cloud.bigtable.Client`` (instances, tables,
  families). Its ``close()`` closes only an HTTP session; the gRPC clients it built lazily are
  closed here, one by one.
- :func:`pubsub_publisher`, :func:`pubsub_subscriber`: ``PublisherClient`` has no ``close()``;
  its generated client's transport is closed. ``SubscriberClient.close()`` closes its channel.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["bigtable_admin", "bigtable_data", "pubsub_publisher", "pubsub_subscriber"]


@contextmanager
def bigtable_data(project: str) -> Iterator[Any]:
    """A ``google.cloud.bigtable.data.BigtableDataClient``; closed on the way out."""
    import warnings

    from google.cloud.bigtable.data import BigtableDataClient

    with warnings.catch_warnings():  # "Connecting to Bigtable emulator at ...", once per client
        warnings.simplefilter("ignore", RuntimeWarning)
        client = BigtableDataClient(project=project, _disable_background_refresh=True)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def bigtable_admin(project: str) -> Iterator[Any]:
    """A classic ``google.cloud.bigtable.Client`` with admin rights; every channel it opened is
    closed on the way out."""
    from google.cloud import bigtable

    client = bigtable.Client(project=project, admin=True)
    try:
        yield client
    finally:
        close_bigtable_client(client)


def close_bigtable_client(client: Any) -> None:
    """Close what a classic ``bigtable.Client`` opened: the data shim's client and the admin
    clients' transports (each built on first use), then its HTTP session."""
    data = getattr(client, "_table_data_client", None)
    if data is not None:
        data.close()
    for name in ("_table_admin_client", "_instance_admin_client"):
        admin = getattr(client, name, None)
        if admin is not None:
            admin.transport.close()
    client.close()


@contextmanager
def pubsub_publisher() -> Iterator[Any]:
    """A ``google.cloud.pubsub_v1.PublisherClient``; its channel is closed on the way out (after
    ``stop()``, which sends what its batches still hold)."""
    import google.cloud.pubsub_v1 as pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    try:
        yield publisher
    finally:
        try:
            publisher.stop()
        finally:
            publisher.api.transport.close()


@contextmanager
def pubsub_subscriber(max_receive_bytes: int | None = None) -> Iterator[Any]:
    """A ``google.cloud.pubsub_v1.SubscriberClient``; closed on the way out.

    ``max_receive_bytes``: on the emulator, the library opens a plain channel with gRPC's default
    4 MiB receive limit, too small to pull Pub/Sub's largest messages (10 MB); the same plain
    channel is opened here with this limit instead. On the service the library's own channel
    has no such limit, and is used as it is.
    """
    import google.cloud.pubsub_v1 as pubsub_v1

    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if not host or max_receive_bytes is None:
        subscriber = pubsub_v1.SubscriberClient()
    else:
        import grpc
        from google.auth.credentials import AnonymousCredentials
        from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

        channel = grpc.insecure_channel(host, options=[("grpc.max_receive_message_length", max_receive_bytes)])
        subscriber = pubsub_v1.SubscriberClient(
            transport=SubscriberGrpcTransport(channel=channel, credentials=AnonymousCredentials())
        )
    try:
        yield subscriber
    finally:
        subscriber.close()
