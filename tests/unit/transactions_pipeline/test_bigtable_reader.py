"""The reader's retry rule, on failures the emulator cannot produce.

The emulator never refuses a ``ReadRows`` call with RESOURCE_EXHAUSTED and never cuts a stream:
a scripted attempt does here, with a fake clock that ``sleep`` advances. The same reads through
the fault proxy, in a job, are tests/integration/test_rollups_chaos_emulator.py's.
"""

from collections.abc import Iterator, Sequence

import pytest
from google.api_core import exceptions as api_exceptions

from tests.fake_clock import FakeClock
from transactions_pipeline.bigtable_connection import Cell
from transactions_pipeline.bigtable_reader import BigtableReader
from transactions_pipeline.bigtable_writer import BigtableUnavailable, RetryPolicy

POLICY = RetryPolicy(operation_timeout_seconds=30, attempt_timeout_seconds=10, initial_backoff_seconds=1)
TABLE = "projects/p/instances/i/tables/rollups"
ROWS = {key: [("ids", b"g#0", key + b"-sales")] for key in (b"a", b"b", b"c", b"d")}


class ScriptedReads:
    """Each call: the next scripted answer, an exception raised at once, or ``(n, exception)``:
    the first ``n`` rows asked for, then the stream breaks with the exception."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.asked: list[list[bytes]] = []
        self.timeouts: list[float] = []

    def __call__(self, keys: Sequence[bytes], row_filter: object, timeout: float) -> Iterator[tuple[bytes, list[Cell]]]:
        self.asked.append(list(keys))
        self.timeouts.append(timeout)
        answer = self.script.pop(0) if self.script else None
        return self._rows(list(keys), answer)

    @staticmethod
    def _rows(keys: list[bytes], answer: object) -> Iterator[tuple[bytes, list[Cell]]]:
        if isinstance(answer, Exception):
            raise answer
        first = len(keys)
        if isinstance(answer, tuple):
            first, error = answer
        for key in keys[:first]:
            if key in ROWS:
                yield key, ROWS[key]
        if isinstance(answer, tuple):
            raise error


def reader(reads: ScriptedReads, clock: FakeClock) -> BigtableReader:
    return BigtableReader(reads, TABLE, POLICY, sleep=clock.sleep, clock=clock)


def test_a_calm_read_is_one_call_and_finds_only_what_exists():
    reads, clock = ScriptedReads(), FakeClock()
    outcome = reader(reads, clock).read([b"c", b"a", b"zz", b"a"])
    assert outcome.rows == {b"a": ROWS[b"a"], b"c": ROWS[b"c"]}
    assert (outcome.attempts, outcome.waited_seconds) == (1, 0.0)
    assert reads.asked == [[b"a", b"c", b"zz"]]  # in key order, each once


@pytest.mark.parametrize(
    "error",
    [
        api_exceptions.ResourceExhausted("busy"),
        api_exceptions.ServiceUnavailable("restarting"),
        api_exceptions.DeadlineExceeded("slow"),
        api_exceptions.Aborted("aborted"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_refused_read_is_retried_with_backoff_and_the_wait_is_counted(error):
    reads, clock = ScriptedReads(error, error), FakeClock()
    outcome = reader(reads, clock).read([b"a", b"b"])
    assert outcome.rows == {b"a": ROWS[b"a"], b"b": ROWS[b"b"]}
    assert outcome.attempts == 3
    assert len(clock.slept) == 2 and 0.5 <= clock.slept[0] <= 1.0 and 1.0 <= clock.slept[1] <= 2.0
    assert outcome.waited_seconds == pytest.approx(sum(clock.slept))


def test_a_cut_stream_resumes_after_the_last_row_that_arrived_whole():
    reads, clock = ScriptedReads((2, api_exceptions.ServiceUnavailable("stream broke off"))), FakeClock()
    outcome = reader(reads, clock).read([b"a", b"b", b"c", b"d"])
    assert outcome.rows == ROWS
    assert reads.asked == [[b"a", b"b", b"c", b"d"], [b"c", b"d"]]  # nothing read twice, nothing skipped


def test_a_read_still_refused_at_the_deadline_fails_the_bundle_with_the_code_and_the_time():
    busy = api_exceptions.ResourceExhausted("the cluster is busy")
    reads, clock = ScriptedReads(*[busy] * 100), FakeClock()
    with pytest.raises(BigtableUnavailable) as raised:
        reader(reads, clock).read([b"a"])
    assert clock.now == pytest.approx(30.0)
    assert str(raised.value).startswith(f"{TABLE}: reading 1 rows still failing after ")
    assert str(raised.value).endswith(" attempts in 30s: ResourceExhausted: the cluster is busy")
    assert all(timeout <= 10 for timeout in reads.timeouts)


def test_an_error_no_retry_can_fix_raises_at_once():
    reads, clock = ScriptedReads(api_exceptions.PermissionDenied("no")), FakeClock()
    with pytest.raises(api_exceptions.PermissionDenied):
        reader(reads, clock).read([b"a"])
    assert clock.slept == []


class ScriptedScans:
    """Each call: the rows after the key asked for, cut after ``n`` rows with an error, or an error."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.after: list[bytes] = []

    def __call__(self, after: bytes, row_filter: object, timeout: float) -> Iterator[tuple[bytes, list[Cell]]]:
        self.after.append(after)
        answer = self.script.pop(0) if self.script else None
        return ScriptedReads._rows([key for key in sorted(ROWS) if key > after], answer)


def test_a_scan_reads_the_whole_table_and_a_cut_one_resumes_after_the_last_whole_row():
    clock = FakeClock()
    scans = ScriptedScans((2, api_exceptions.ServiceUnavailable("cut")), api_exceptions.ResourceExhausted("busy"))
    outcome = reader(ScriptedReads(), clock).scan(scans)
    assert outcome.rows == ROWS and outcome.attempts == 3 and len(clock.slept) == 2
    assert scans.after == [b"", b"b", b"b"]


def test_a_scan_still_refused_at_the_deadline_fails_the_bundle():
    clock = FakeClock()
    scans = ScriptedScans(
        (1, api_exceptions.ServiceUnavailable("cut")), *[api_exceptions.ServiceUnavailable("down")] * 100
    )
    with pytest.raises(
        BigtableUnavailable, match=r"reading the rest of the table still failing after \d+ attempts in 30s"
    ):
        reader(ScriptedReads(), clock).scan(scans)


def test_no_keys_no_call():
    reads = ScriptedReads()
    outcome = reader(reads, FakeClock()).read([])
    assert (outcome.rows, outcome.attempts, reads.asked) == ({}, 0, [])
