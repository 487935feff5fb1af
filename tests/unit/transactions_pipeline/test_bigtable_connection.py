"""Each of the job's DoFns that holds a client leaves no channel open after ``teardown``, and the
connection's close closes the one client both sinks use (no emulator: see tests/channels.py)."""

import pytest

from tests.channels import is_closed, recorded_channels
from transactions_pipeline.bigtable_connection import Connection, bigtable_connection
from transactions_pipeline.bigtable_sink import _WriteRowsFn
from transactions_pipeline.bigtable_writer import BatchLimits, BigtableTarget, RetryPolicy
from transactions_pipeline.dead_letter_sink import _PublishDeadLettersFn
from transactions_pipeline.rollup_sink import _WriteRollupsFn

TARGET = BigtableTarget("p", "i", "t", "f")


@pytest.mark.parametrize(
    "make",
    [
        lambda: _WriteRowsFn(TARGET, BatchLimits(), RetryPolicy()),
        lambda: _WriteRollupsFn(TARGET, "s20261202T000000-abcdef", RetryPolicy()),
        lambda: _PublishDeadLettersFn("projects/p/topics/dead-letters"),
    ],
    ids=["WriteToBigtable", "WriteRollups", "PublishDeadLetters"],
)
def test_a_dofn_teardown_leaves_no_channel_open(monkeypatch, make):
    with recorded_channels(monkeypatch) as made:
        fn = make()
        fn.setup()
        assert len(made) == 1 and not is_closed(made[0]), "one client, one channel, open while set up"
        fn.teardown()
        assert is_closed(made[0])


def test_a_dofn_torn_down_before_its_setup_finished_does_not_fail(monkeypatch):
    """Beam may call teardown after a failed setup: nothing was opened, nothing to close."""
    for fn in (_WriteRowsFn(TARGET, BatchLimits(), RetryPolicy()), _WriteRollupsFn(TARGET, "g", RetryPolicy())):
        fn.teardown()


def test_the_connection_writes_and_reads_on_one_client_and_closes_it(monkeypatch):
    with recorded_channels(monkeypatch) as made:
        connection = bigtable_connection(TARGET)
        assert isinstance(connection, Connection) and callable(connection.read)
        assert len(made) == 1
        connection.close()
        assert is_closed(made[0])


def test_the_adaptive_throttler_is_beams_behind_one_lock(monkeypatch):
    """The rollups' sink calls it from two threads; each call holds the lock, and answers as Beam's."""
    from typing import cast

    from apache_beam.io.components.adaptive_throttler import AdaptiveThrottler

    from transactions_pipeline.bigtable_connection import _Locked, adaptive_throttler

    throttler = cast(_Locked, adaptive_throttler())
    inner, lock = throttler._throttler, throttler._lock
    assert isinstance(inner, AdaptiveThrottler)
    assert throttler.throttle_request(1_000.0) is False  # nothing refused yet
    seen: list[bool] = []
    original = inner.successful_request

    def recording(now_ms: float) -> None:
        seen.append(lock.locked())
        original(now_ms)

    monkeypatch.setattr(inner, "successful_request", recording)
    throttler.successful_request(2_000.0)
    assert seen == [True] and not lock.locked()
