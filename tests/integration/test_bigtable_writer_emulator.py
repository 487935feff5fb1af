"""The Bigtable writer against the real emulator: batches, exact cells, per-entry failures."""

import pytest
from google.cloud import bigtable

from tests.bigtable_senders import MutateRowsRequestPb
from tests.integration.harness import INSTANCE, PROJECT, provision_for_test, read_rows
from tests.rows import row_of
from transactions_pipeline.bigtable_writer import BigtableBatchWriter, BigtableTarget, RetryPolicy
from transactions_wire.bigtable import encode_entry, mutate_rows_sender

pytestmark = pytest.mark.integration


def test_rows_of_an_unknown_family_fail_alone_after_bounded_tries_while_batch_mates_land(emulators, unique):
    resources = provision_for_test(unique)
    target = BigtableTarget(PROJECT, INSTANCE, resources.table, resources.column_family)
    client = bigtable.Client(project=PROJECT).table_data_client
    send, entries_per_call = mutate_rows_sender(client), []

    def counting(request: bytes, metadata: tuple, timeout: float):
        entries_per_call.append(len(MutateRowsRequestPb.FromString(request).entries))
        return send(request, metadata, timeout)

    writer = BigtableBatchWriter(counting, target, RetryPolicy(max_entry_attempts=3, initial_backoff_seconds=0.01))
    rows = [row_of(f"u#{i:013d}#t{i}".encode(), ((b"price", f"{i}.00".encode()),), 5000) for i in range(300)]
    entries = [encode_entry(row, "nope" if i % 100 == 7 else resources.column_family) for i, row in enumerate(rows)]

    outcome = writer.write(entries)

    assert outcome.written == 297
    assert [(f.batch_index, f.reason) for f in outcome.failed] == [
        (7, "bigtable_internal"),
        (107, "bigtable_internal"),
        (207, "bigtable_internal"),
    ]
    assert all('unknown family "nope"' in f.detail for f in outcome.failed)
    assert outcome.calls == 3 and entries_per_call == [300, 3, 3] and outcome.retried == 6
    stored = read_rows(resources)
    assert len(stored) == 297
    assert stored[b"u#0000000000001#t1"] == {b"price": [(b"1.00", 5000)]}
