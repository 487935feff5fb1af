"""Which gRPC channels a piece of code opened, and whether it closed them.

The clients reach the emulators through ``grpc.insecure_channel`` (python-bigtable's data client
through its own import of it); recording every channel made
there, and then trying a call on each (a closed channel refuses at once with ``ValueError``, an
open one tries the network), tells whether a client's close really closed its channel: the
classic ``bigtable.Client.close()``, for one, does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest

UNREACHABLE = "127.0.0.1:1"
"""An emulator address nothing listens on: no call is made while a client is opened and closed."""


def is_closed(channel: Any) -> bool:
    try:
        channel.unary_unary("/probe.Probe/Probe")(b"", timeout=0.05)
    except ValueError:  # "Cannot invoke RPC on closed channel!"
        return True
    except grpc.RpcError:
        return False
    return False


@contextmanager
def recorded_channels(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every channel opened inside the block, with the emulator variables set to :data:`UNREACHABLE`."""
    monkeypatch.setenv("BIGTABLE_EMULATOR_HOST", UNREACHABLE)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", UNREACHABLE)
    made: list[Any] = []
    real = grpc.insecure_channel

    def record(*args: Any, **kwargs: Any) -> Any:
        channel = real(*args, **kwargs)
        made.append(channel)
        return channel

    monkeypatch.setattr(grpc, "insecure_channel", record)
    # python-bigtable's data client took its own name for it when imported
    from google.cloud.bigtable.data._sync_autogen import client as bigtable_data_client

    monkeypatch.setattr(bigtable_data_client, "insecure_channel", record)
    yield made
