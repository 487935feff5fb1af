"""The streaming pipeline end to end on the real Pub/Sub and Bigtable emulators."""

import pytest
from google.cloud import bigtable

from tests.integration.harness import (
    INSTANCE,
    PROJECT,
    job_config,
    provision_for_test,
    publish,
    pull_dead_letters,
    read_rows,
    streaming_job,
    wait_for_rows,
)
from tests.messages import attributes_of, encode, invalid_messages, valid_record
from tests.rows import NO_SOURCE
from transactions.contract import parse_transaction
from transactions_pipeline.rows import to_row

pytestmark = pytest.mark.integration


def expected_rows(records):
    expected = {}
    for record in records:
        row = to_row(parse_transaction(encode(record)), NO_SOURCE)
        expected[row.row_key] = {q: [(v, row.timestamp_micros)] for q, v in row.cells}
    return expected


def test_valid_rows_land_exactly_invalid_ones_are_dead_lettered_and_redelivery_is_idempotent(emulators, unique):
    resources = provision_for_test(unique)
    records = [valid_record(i) for i in range(50)]
    valid = [(encode(r), attributes_of(r)) for r in records]
    invalid = invalid_messages()
    invalid_messages_with_attrs = [
        (data, {"transaction_id": f"bad-{i}", "source": "test"}) for i, (data, _, _) in enumerate(invalid)
    ]

    with streaming_job(job_config(resources)):
        publish(resources, valid + invalid_messages_with_attrs)
        # The Python direct runner's metrics stop updating after the first bundles, so the
        # tests count what reached Bigtable and the dead-letter topic instead.
        letters = pull_dead_letters(resources, 20)
        assert len(letters) == 20
        wait_for_rows(resources, 50)
        assert read_rows(resources) == expected_rows(records)

        by_id = {m.attributes["transaction_id"]: m for m in letters}
        for i, (data, stage, reason) in enumerate(invalid):
            letter = by_id[f"bad-{i}"]
            assert letter.data == data
            assert letter.attributes["source"] == "test"
            assert (letter.attributes["error_stage"], letter.attributes["error_reason"]) == (stage, reason)
            assert 0 < len(letter.attributes["error_detail"]) <= 1000
            assert letter.attributes["failed_at"].endswith("Z")

        # Redelivery: the same 50 again rewrite the very same cells. A sentinel published after
        # them tells when they have been through the pipeline.
        sentinel = (b"{sentinel", {"transaction_id": "sentinel"})
        publish(resources, [*valid, sentinel])
        assert [m.attributes["transaction_id"] for m in pull_dead_letters(resources, 1)] == ["sentinel"]
        assert read_rows(resources) == expected_rows(records)  # still 50 rows, one version per cell
        assert pull_dead_letters(resources, 1, timeout=3) == []  # no write dead letters either


def test_missing_column_family_dead_letters_the_entries_and_the_job_keeps_running(emulators, unique):
    resources = provision_for_test(unique)
    table = bigtable.Client(project=PROJECT, admin=True).instance(INSTANCE).table(resources.table)
    records = [valid_record(i) for i in range(5)]

    with streaming_job(job_config(resources)):
        # The family disappears after launch (launch-time checks passed).
        table.column_family(resources.column_family).delete()
        publish(resources, [(encode(r), attributes_of(r)) for r in records])
        letters = pull_dead_letters(resources, 5, timeout=90)
        assert sorted(m.data for m in letters) == sorted(encode(r) for r in records)
        for letter in letters:
            assert letter.attributes["error_stage"] == "write"
            # The service answers NOT_FOUND; the emulator answers INTERNAL "unknown family".
            assert letter.attributes["error_reason"] in {"bigtable_not_found", "bigtable_internal"}
            assert "unknown family" in letter.attributes["error_detail"]

        # Still running: with the family back, the next message is written.
        table.column_family(resources.column_family).create()
        again = valid_record(99)
        publish(resources, [(encode(again), attributes_of(again))])
        wait_for_rows(resources, 1)
        assert read_rows(resources) == expected_rows([again])
