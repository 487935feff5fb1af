"""Dead letters pulled and held under a lease while a command works on them, then acknowledged
or handed back at once: what ``transacoes-deadletters`` (and ``transacoes-forget``) hold is never
lost, and never held longer than the command runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LEASE_SECONDS", "MAX_MESSAGE_BYTES", "MAX_PULL_RESPONSE_BYTES", "PULL_BATCH", "Held"]

LEASE_SECONDS = 600
"""How long pulled dead letters are held while the command works (renewed as it goes)."""
MAX_MESSAGE_BYTES = 10 * 1000 * 1000
"""Pub/Sub's limit on one message (data and attributes): the largest dead letter there can be."""
PULL_BATCH = 10
"""Messages asked for per pull: even ten of the largest fit in one response under the limit below."""
MAX_PULL_RESPONSE_BYTES = PULL_BATCH * MAX_MESSAGE_BYTES + 16 * 1024 * 1024
"""The receive limit of the emulator's channel: a pull of ``PULL_BATCH`` of the largest messages,
with room for the response's own fields (gRPC's default is 4 MiB; the service's channel, built by
the library, has none)."""


@dataclass
class Held:
    """Dead letters pulled and leased by this command, until it acknowledges or hands them back."""

    subscriber: Any
    """A ``SubscriberClient``, or a test's stand-in of one."""
    subscription: str
    messages: list = field(default_factory=list)
    _leased_at: float = 0.0

    def pull(self, at_most: int) -> None:
        seen: set[str] = set()
        while len(self.messages) < at_most:
            response = self.subscriber.pull(
                subscription=self.subscription,
                max_messages=min(PULL_BATCH, at_most - len(self.messages)),
                timeout=3 if self.messages else 10,  # the last, empty pull only says there is no more
            )
            fresh = [m for m in response.received_messages if m.message.message_id not in seen]
            repeats = [m.ack_id for m in response.received_messages if m.message.message_id in seen]
            self.messages += fresh  # held from here on: handed back if anything below fails
            if repeats:
                self.hand_back(repeats)
            if not fresh:
                break
            self._extend([m.ack_id for m in fresh])
            seen.update(m.message.message_id for m in fresh)
        self._leased_at = time.monotonic()

    def renew(self) -> None:
        """Keep the lease of every held message while a long replay works through them."""
        if self.messages and time.monotonic() - self._leased_at > LEASE_SECONDS / 2:
            self._extend([m.ack_id for m in self.messages])
            self._leased_at = time.monotonic()

    def acknowledge(self, ack_ids: list[str]) -> None:
        for start in range(0, len(ack_ids), 1000):
            self.subscriber.acknowledge(subscription=self.subscription, ack_ids=ack_ids[start : start + 1000])

    def hand_back(self, ack_ids: list[str]) -> None:
        """Unacknowledged, at once: redelivered to the next reader, nothing consumed."""
        for start in range(0, len(ack_ids), 1000):
            self.subscriber.modify_ack_deadline(
                subscription=self.subscription, ack_ids=ack_ids[start : start + 1000], ack_deadline_seconds=0
            )

    def _extend(self, ack_ids: list[str]) -> None:
        for start in range(0, len(ack_ids), 1000):
            self.subscriber.modify_ack_deadline(
                subscription=self.subscription,
                ack_ids=ack_ids[start : start + 1000],
                ack_deadline_seconds=LEASE_SECONDS,
            )
