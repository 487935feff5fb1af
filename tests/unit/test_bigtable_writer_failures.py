"""Failure modes of the Bigtable writer that the emulator cannot produce.

The emulator never answers UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED, nor a
per-entry NOT_FOUND: these tests replace the generated client's ``mutate_rows`` with a
scripted stand-in of the same signature. Everything the emulator *can* do (writes, an unknown
column family) is tested against it in tests/integration.
"""

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud.bigtable_v2.types import bigtable as bigtable_types

from template.bigtable_row import BigtableRow
from template.bigtable_writer import (
    BigtableBatchWriter,
    BigtableTarget,
    BigtableUnavailable,
    FailedEntry,
    RetryPolicy,
)
from template.mutations import encode_entry

TARGET = BigtableTarget("local-project", "local-instance", "transacoes", "dados")
POLICY = RetryPolicy(max_entry_tries=3, max_outage_tries=4)


def rows(n: int) -> list:
    return [
        encode_entry(BigtableRow(f"u#{i:013d}#t{i}".encode(), ((b"price", b"1.00"),), 1000, None), "dados")
        for i in range(n)
    ]


class ScriptedBigtable:
    """Answers each call with the next scripted item: a list of per-entry codes, or an exception."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[list[bytes]] = []

    def __call__(self, request, retry, timeout):
        assert retry is None, "the writer does its own retries"
        pb = bigtable_types.MutateRowsRequest.pb(request)
        assert pb.table_name == TARGET.table_name
        self.requests.append([entry.row_key for entry in pb.entries])
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        codes = answer if isinstance(answer, list) else [answer] * len(pb.entries)
        response = bigtable_types.MutateRowsResponse.pb()()
        for index, code in enumerate(codes):
            entry = response.entries.add(index=index)
            entry.status.code = code
            entry.status.message = f"code {code}"
        return iter([bigtable_types.MutateRowsResponse.wrap(response)])


def writer(fake, retries=None):
    return BigtableBatchWriter(fake, TARGET, POLICY, sleep=lambda s: None, on_retry=retries)


def test_all_ok_in_one_call():
    fake = ScriptedBigtable(0)
    outcome = writer(fake).write(rows(5))
    assert (outcome.written, outcome.failed, outcome.calls) == (5, [], 1)


def test_data_errors_are_dead_lettered_at_once_and_the_rest_written():
    fake = ScriptedBigtable([0, 5, 0, 3, 9])
    outcome = writer(fake).write(rows(5))
    assert outcome.written == 2
    assert [(f.index, f.reason) for f in outcome.failed] == [
        (1, "bigtable_not_found"),
        (3, "bigtable_invalid_argument"),
        (4, "bigtable_failed_precondition"),
    ]
    assert outcome.calls == 1


def test_transient_call_error_is_retried_then_succeeds():
    retried = []
    fake = ScriptedBigtable(api_exceptions.ServiceUnavailable("down"), 0)
    outcome = writer(fake, retried.append).write(rows(3))
    assert (outcome.written, outcome.failed, outcome.calls) == (3, [], 2)
    assert retried == [3]
    assert fake.requests[0] == fake.requests[1]


def test_outage_longer_than_the_budget_fails_the_bundle():
    fake = ScriptedBigtable(*[api_exceptions.DeadlineExceeded("slow")] * POLICY.max_outage_tries)
    with pytest.raises(BigtableUnavailable, match="3 rows still failing after 4 tries"):
        writer(fake).write(rows(3))


def test_every_entry_throttled_is_an_outage_not_a_dead_letter():
    fake = ScriptedBigtable(*[14] * POLICY.max_outage_tries)
    with pytest.raises(BigtableUnavailable):
        writer(fake).write(rows(2))


def test_entry_failing_while_batch_mates_succeed_is_dead_lettered_after_bounded_tries():
    fake = ScriptedBigtable([0, 14, 0], [14], [14])
    outcome = writer(fake).write(rows(3))
    assert outcome.failed == [
        FailedEntry(1, "bigtable_unavailable", "Bigtable answered UNAVAILABLE for this row 3 times: code 14")
    ]
    assert outcome.written == 2
    assert [len(r) for r in fake.requests] == [3, 1, 1]


def test_emulator_internal_error_for_unknown_family_is_dead_lettered_after_bounded_tries():
    fake = ScriptedBigtable(13, 13, 13)
    outcome = writer(fake).write(rows(2))
    assert [f.reason for f in outcome.failed] == ["bigtable_internal", "bigtable_internal"]
    assert outcome.calls == POLICY.max_entry_tries


def test_permission_denied_raises_at_once():
    fake = ScriptedBigtable(api_exceptions.PermissionDenied("no"))
    with pytest.raises(api_exceptions.PermissionDenied):
        writer(fake).write(rows(1))
    assert len(fake.requests) == 1


def test_entries_left_unanswered_by_a_broken_stream_are_resent():
    fake = ScriptedBigtable([0], 0)  # answers only the first entry, then (next call) all
    outcome = writer(fake).write(rows(3))
    assert (outcome.written, outcome.calls) == (3, 2)
    assert len(fake.requests[1]) == 2
