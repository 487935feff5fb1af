"""The Bigtable writer against the real emulator: batches, exact cells, per-entry failures."""

import pytest
from google.cloud import bigtable

from tests.integration.harness import INSTANCE, PROJECT, provision_for_test, read_rows
from transactions_pipeline.bigtable_client import channel_sender
from transactions_pipeline.bigtable_writer import BigtableBatchWriter, BigtableTarget, RetryPolicy
from transactions_pipeline.mutations import encode_entry
from transactions_pipeline.rows import BigtableRow

pytestmark = pytest.mark.integration


def test_rows_of_an_unknown_family_fail_alone_after_bounded_tries_while_batch_mates_land(emulators, unique):
    resources = provision_for_test(unique)
    target = BigtableTarget(PROJECT, INSTANCE, resources.table, resources.column_family)
    client = bigtable.Client(project=PROJECT).table_data_client
    retried = []
    writer = BigtableBatchWriter(
        channel_sender(client),
        target,
        RetryPolicy(max_entry_attempts=3, initial_backoff_seconds=0.01),
        on_backoff=lambda seconds, entries: retried.append(entries),
    )
    rows = [BigtableRow(f"u#{i:013d}#t{i}".encode(), ((b"price", f"{i}.00".encode()),), 5000, None) for i in range(300)]
    entries = [encode_entry(row, "nope" if i % 100 == 7 else resources.column_family) for i, row in enumerate(rows)]

    outcome = writer.write(entries)

    assert outcome.written == 297
    assert [(f.index, f.reason) for f in outcome.failed] == [
        (7, "bigtable_internal"),
        (107, "bigtable_internal"),
        (207, "bigtable_internal"),
    ]
    assert all('unknown family "nope"' in f.detail for f in outcome.failed)
    assert outcome.calls == 3 and retried == [3, 3]
    stored = read_rows(resources)
    assert len(stored) == 297
    assert stored[b"u#0000000000001#t1"] == {b"price": [(b"1.00", 5000)]}
