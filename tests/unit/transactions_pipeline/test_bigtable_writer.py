"""Failure modes of the Bigtable writer that the emulator cannot produce.

The emulator never answers UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED, nor a
per-entry NOT_FOUND, and it never throttles: these tests replace the generated client's
``mutate_rows`` with a scripted stand-in of the same signature, and the clock with a fake one
that ``sleep`` advances. Everything the emulator *can* do (writes, an unknown column family)
is tested against it in tests/integration.
"""

import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud.bigtable_v2.types import bigtable as bigtable_types

from tests.bigtable_senders import generated_sender
from tests.fake_clock import FakeClock
from tests.rows import row_of
from transactions_pipeline.bigtable_writer import (
    BatchLimits,
    BigtableBatchWriter,
    BigtableTarget,
    BigtableUnavailable,
    FailedEntry,
    RetryPolicy,
    status_name,
)
from transactions_wire.bigtable import encode_entry

TARGET = BigtableTarget("local-project", "local-instance", "transacoes", "dados")
POLICY = RetryPolicy(
    max_entry_attempts=3, operation_timeout_seconds=30, initial_backoff_seconds=1, max_backoff_seconds=4
)


def rows(n: int) -> list:
    return [encode_entry(row_of(f"u#{i:013d}#t{i}".encode(), ((b"price", b"1.00"),), 1000), "dados") for i in range(n)]


class ScriptedBigtable:
    """Answers each call with the next scripted item: a list of per-entry codes, a code, or an exception."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[list[bytes]] = []
        self.timeouts: list[float] = []

    def __call__(self, request, retry, timeout):
        assert retry is None, "the writer does its own retries"
        pb = bigtable_types.MutateRowsRequest.pb(request)
        assert pb.table_name == TARGET.table_name
        self.requests.append([entry.row_key for entry in pb.entries])
        self.timeouts.append(timeout)
        answer = self.script.pop(0)
        if isinstance(answer, Exception):
            raise answer
        cut = None
        if isinstance(answer, tuple):  # (codes of the first entries, the error that breaks the stream)
            answer, cut = answer
        codes = answer if isinstance(answer, list) else [answer] * len(pb.entries)
        response = bigtable_types.MutateRowsResponse.pb()()
        for index, code in enumerate(codes):
            entry = response.entries.add(index=index)
            entry.status.code = code
            entry.status.message = f"code {code}"
        return self._stream(bigtable_types.MutateRowsResponse.wrap(response), cut)

    @staticmethod
    def _stream(response, cut):
        yield response
        if cut is not None:
            raise cut


def writer(fake, clock=None, policy=POLICY, throttler=None):
    clock = clock or FakeClock(1000.0)
    return BigtableBatchWriter(
        generated_sender(fake),
        TARGET,
        policy,
        sleep=clock.sleep,
        clock=clock,
        throttler=throttler,
    )


def test_all_ok_in_one_call():
    fake = ScriptedBigtable(0)
    outcome = writer(fake).write(rows(5))
    assert (outcome.written, outcome.failed, outcome.calls) == (5, [], 1)
    assert fake.timeouts == [30]  # an attempt never reaches past the operation's deadline (30 s here)


def test_data_errors_are_dead_lettered_at_once_and_the_rest_written():
    fake = ScriptedBigtable([0, 5, 0, 3, 9])
    outcome = writer(fake).write(rows(5))
    assert outcome.written == 2
    assert [(f.batch_index, f.reason) for f in outcome.failed] == [
        (1, "bigtable_not_found"),
        (3, "bigtable_invalid_argument"),
        (4, "bigtable_failed_precondition"),
    ]
    assert outcome.calls == 1


def test_transient_call_error_is_retried_then_succeeds_and_the_wait_is_reported():
    clock = FakeClock(1000.0)
    fake = ScriptedBigtable(api_exceptions.ServiceUnavailable("down"), 0)
    outcome = writer(fake, clock).write(rows(3))
    assert (outcome.written, outcome.failed, outcome.calls) == (3, [], 2)
    assert len(clock.slept) == 1 and (outcome.waited_seconds, outcome.retried) == (clock.slept[0], 3)
    assert 0.5 <= clock.slept[0] <= 1.0  # the first backoff, jittered to 50-100%
    assert fake.requests[0] == fake.requests[1]


def test_an_outage_is_retried_until_the_operation_deadline_then_fails_the_bundle():
    clock = FakeClock(1000.0)
    fake = ScriptedBigtable(*[api_exceptions.DeadlineExceeded("slow")] * 100)
    with pytest.raises(
        BigtableUnavailable, match=r"3 rows still failing after \d+ attempts in 30s: DeadlineExceeded: slow"
    ):
        writer(fake, clock=clock).write(rows(3))
    assert sum(clock.slept) == pytest.approx(30)  # the whole budget, and not a second more
    assert max(clock.slept) <= POLICY.max_backoff_seconds
    assert all(timeout <= POLICY.attempt_timeout_seconds for timeout in fake.timeouts)
    assert fake.timeouts[-1] <= 30 - sum(clock.slept[:-1])  # no attempt reaches past the deadline


def test_every_entry_throttled_is_an_outage_not_a_dead_letter():
    fake = ScriptedBigtable(*[14] * 100)
    with pytest.raises(BigtableUnavailable, match="UNAVAILABLE for 2 rows"):
        writer(fake).write(rows(2))
    assert len(fake.requests) > POLICY.max_entry_attempts  # entries were never charged


TRANSIENT = {"unavailable": 14, "resource_exhausted": 8, "deadline_exceeded": 4, "aborted": 10, "cancelled": 1}


@pytest.mark.parametrize("code", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_a_transient_code_for_some_entries_while_others_are_written_is_retried_not_charged(code):
    """A hot tablet: two of five entries refused, for more attempts than an entry may fail on its
    own, while their batch mates are written. Both are written in the end, with no dead letter,
    and every second waited counts as throttling."""
    clock = FakeClock(1000.0)
    fake = ScriptedBigtable([0, code, 0, code, 0], *[[code, code]] * (POLICY.max_entry_attempts + 3), 0)
    outcome = writer(fake, clock=clock).write(rows(5))
    assert (outcome.written, outcome.failed) == (5, [])
    assert outcome.calls == POLICY.max_entry_attempts + 5
    assert [len(r) for r in fake.requests] == [5] + [2] * (POLICY.max_entry_attempts + 4)
    assert outcome.retried == 2 * (POLICY.max_entry_attempts + 4)
    assert outcome.waited_seconds == pytest.approx(sum(clock.slept)) and outcome.waited_seconds > 0


def test_an_entry_throttled_past_the_deadline_fails_the_bundle_not_the_row():
    clock = FakeClock(1000.0)
    fake = ScriptedBigtable([0, 8, 0], *[[8]] * 100)
    with pytest.raises(
        BigtableUnavailable, match=r"1 rows still failing after \d+ attempts in 30s: RESOURCE_EXHAUSTED"
    ):
        writer(fake, clock=clock).write(rows(3))
    assert sum(clock.slept) == pytest.approx(30)


def test_a_stream_cut_after_half_the_entries_resends_only_the_unanswered_half():
    fake = ScriptedBigtable(([0, 0], api_exceptions.ServiceUnavailable("stream reset")), 0)
    outcome = writer(fake).write(rows(4))
    assert (outcome.written, outcome.failed, outcome.calls) == (4, [], 2)
    assert fake.requests[1] == fake.requests[0][2:]


def test_a_data_error_mixed_with_a_transient_code_is_dead_lettered_the_other_retried():
    fake = ScriptedBigtable([5, 14, 0], [14], [14], [14], [14], 0)
    outcome = writer(fake).write(rows(3))
    assert outcome.failed == [FailedEntry(0, "bigtable_not_found", "Bigtable answered NOT_FOUND for this row: code 5")]
    assert outcome.written == 2
    assert [len(r) for r in fake.requests] == [3, 1, 1, 1, 1, 1]


def test_an_ambiguous_code_while_batch_mates_succeed_is_dead_lettered_after_bounded_attempts():
    fake = ScriptedBigtable([0, 2, 0], [2], [2])
    outcome = writer(fake).write(rows(3))
    assert outcome.failed == [
        FailedEntry(1, "bigtable_unknown", "Bigtable answered UNKNOWN for this row 3 times: code 2")
    ]
    assert outcome.written == 2
    assert [len(r) for r in fake.requests] == [3, 1, 1]


def test_emulator_internal_error_for_unknown_family_is_dead_lettered_after_bounded_attempts():
    fake = ScriptedBigtable(13, 13, 13)
    outcome = writer(fake).write(rows(2))
    assert [f.reason for f in outcome.failed] == ["bigtable_internal", "bigtable_internal"]
    assert outcome.calls == POLICY.max_entry_attempts


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


class RecordingThrottler:
    """Beam's AdaptiveThrottler shape: holds back the first ``refusals`` attempts, records successes."""

    def __init__(self, refusals: int):
        self.refusals = refusals
        self.successes = 0

    def throttle_request(self, now_ms: float) -> bool:
        self.refusals -= 1
        return self.refusals >= 0

    def successful_request(self, now_ms: float) -> None:
        self.successes += 1


def test_an_adaptive_throttler_holds_attempts_back_and_the_wait_counts_as_throttling():
    clock, throttler = FakeClock(1000.0), RecordingThrottler(refusals=2)
    fake = ScriptedBigtable(0)
    outcome = writer(fake, clock, throttler=throttler).write(rows(4))
    assert outcome.written == 4 and [len(request) for request in fake.requests] == [4]
    assert clock.slept == [1.0, 1.0] and outcome.waited_seconds == 2.0  # two refusals, one second each
    assert throttler.successes == 1


def test_an_outage_is_not_reported_to_the_throttler_as_a_success():
    throttler = RecordingThrottler(refusals=0)
    fake = ScriptedBigtable(api_exceptions.ServiceUnavailable("down"), 0)
    writer(fake, throttler=throttler).write(rows(2))
    assert throttler.successes == 1


def test_a_partly_written_attempt_counts_as_a_success_for_the_throttler():
    """A hot tablet refuses a share of every call: the service still accepts work, so the
    throttler must see successes, or it would hold nearly every attempt back (Beam's
    AdaptiveThrottler counts each held-back attempt as a request)."""
    throttler = RecordingThrottler(refusals=0)
    fake = ScriptedBigtable([0, 14, 0], [14], 0)
    writer(fake, throttler=throttler).write(rows(3))
    assert throttler.successes == 2  # the first attempt (two written) and the last; not the refused one


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (lambda: RetryPolicy(operation_timeout_seconds=0), "operation_timeout_seconds"),
        (lambda: RetryPolicy(max_entry_attempts=-1), "max_entry_attempts"),
        (lambda: RetryPolicy(initial_backoff_seconds=0), "initial_backoff_seconds"),
        (lambda: BatchLimits(max_rows=0), "max_rows"),
        (lambda: BatchLimits(max_bytes=-5), "max_bytes"),
    ],
)
def test_zero_or_negative_settings_are_refused(settings, field):
    with pytest.raises(ValueError, match=f"{field} must be > 0"):
        settings()


def test_more_mutations_than_bigtable_allows_per_call_are_refused():
    with pytest.raises(ValueError, match="at most 100000"):
        BatchLimits(max_mutations=100_001)


def test_status_names_come_from_google_rpc_code():
    assert [status_name(c) for c in (0, 5, 14, 16, 99)] == [
        "ok",
        "not_found",
        "unavailable",
        "unauthenticated",
        "code_99",
    ]
