"""What reached Bigtable and the dead-letter topic, and when each row was first seen.

The demo and the latency benchmark poll it: a keys-only scan of the table (rows of one run
are told apart by their transaction ids) and a pull of a dead-letter subscription, whose
messages it acknowledges, since it is the only reader of that subscription.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import ExitStack

from transactions import layout
from transactions_tools.dead_letter_lease import MAX_PULL_RESPONSE_BYTES
from transactions_tools.dead_letter_report import reason_key
from transactions_tools.provision import Resources
from transactions_wire import clients


class Observer:
    """Rows seen (with the moment each was first seen) and dead letters by stage and reason."""

    def __init__(self, resources: Resources, transaction_prefix: str = "") -> None:
        self._opened = ExitStack()
        client = self._opened.enter_context(clients.bigtable_admin(resources.bigtable_project or resources.project))
        self.table = client.instance(resources.instance).table(resources.table)
        # dead letters can be up to 10 MB
        self._subscriber = self._opened.enter_context(clients.pubsub_subscriber(MAX_PULL_RESPONSE_BYTES))
        self._dead_letter_path = resources.subscription_path(resources.dead_letter_subscription)
        self._transaction_prefix = transaction_prefix
        self.first_seen: dict[bytes, float] = {}
        self.latencies: list[float] = []
        self.dead_letters: Counter[str] = Counter()

    def poll(self) -> None:
        from google.cloud.bigtable.row_filters import CellsRowLimitFilter, RowFilterChain, StripValueTransformerFilter

        now = time.time()
        keys_only = RowFilterChain([CellsRowLimitFilter(1), StripValueTransformerFilter(True)])
        for row in self.table.read_rows(filter_=keys_only):
            if row.row_key in self.first_seen:
                continue
            key = layout.parse_row_key(row.row_key)
            if key.transaction_id.startswith(self._transaction_prefix):
                self.first_seen[row.row_key] = now
                self.latencies.append(now - key.event_time_ms / 1000)
        while True:
            response = self._subscriber.pull(
                subscription=self._dead_letter_path, max_messages=1000, timeout=5, return_immediately=True
            )
            if not response.received_messages:
                break
            self._subscriber.acknowledge(
                subscription=self._dead_letter_path, ack_ids=[m.ack_id for m in response.received_messages]
            )
            for message in response.received_messages:
                self.dead_letters[reason_key(message.message)] += 1

    @property
    def written(self) -> int:
        return len(self.first_seen)

    @property
    def dead_lettered(self) -> int:
        return sum(self.dead_letters.values())

    def busiest_user(self) -> str:
        users = Counter(layout.parse_row_key(key).user_id for key in self.first_seen)
        return users.most_common(1)[0][0]

    def close(self) -> None:
        """Close both clients (the demo and the benchmarks call it when they are done)."""
        self._opened.close()
