"""The fault proxy's decisions: which faults are active when, which entries a ``MutateRows``
call loses, what a cut stream answers, and what is counted.

The upstream channel and the call's server context are stand-ins (no server is started, no port
opened): the upstream answers every forwarded entry OK and records what it was sent; the context
raises on ``abort`` as gRPC's does. The proxy between a real client and the emulator is
``tests/integration/test_chaos_emulator.py`` (and ``make chaos``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.cloud.bigtable_v2.types import bigtable as bigtable_types

from transactions_tools.local import fault_proxy
from transactions_tools.local.fault_proxy import MUTATE_ROWS, READ_ROWS, Fault, FaultProxy

REQUEST = bigtable_types.MutateRowsRequest.pb()
RESPONSE = bigtable_types.MutateRowsResponse.pb()
READ_RESPONSE = bigtable_types.ReadRowsResponse.pb()


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code, self.details = code, details


class Context:
    """What the handlers use of a ``grpc.ServicerContext``."""

    def __init__(self, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def time_remaining(self) -> float:
        return 30.0

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


class Upstream:
    """The emulator's side: answers each forwarded ``MutateRows`` entry OK, or streams scripted
    ``ReadRows`` answers; records every call."""

    def __init__(self, read_rows: list[bytes] | None = None) -> None:
        self.calls: list[tuple[str, bytes, Any]] = []
        self._read_rows = read_rows or []

    def unary_stream(self, method: str) -> Callable[..., Iterator[bytes]]:
        def call(request: bytes, metadata: Any = None, timeout: float | None = None) -> Iterator[bytes]:
            self.calls.append((method, request, metadata))
            if method == READ_ROWS:
                return iter(self._read_rows)
            answer = RESPONSE()
            for index in range(len(REQUEST.FromString(request).entries)):
                answer.entries.add(index=index)
            return iter([answer.SerializeToString()])

        return call


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(fault_proxy.time, "monotonic", fake)
    return fake


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    made = FaultProxy("127.0.0.1:1", seed=7)  # a channel is only opened on first use: none here
    made._channel.close()
    made._channel = Upstream()
    yield made


def mutate_rows(keys: list[bytes]) -> bytes:
    request = REQUEST(table_name="projects/p/instances/i/tables/t")
    for key in keys:
        request.entries.add(row_key=key)
    return request.SerializeToString()


def answers(raw: list[bytes]) -> list[tuple[int, int]]:
    return sorted((e.index, e.status.code) for chunk in raw for e in RESPONSE.FromString(chunk).entries)


def collect(stream: Iterator[bytes]) -> tuple[list[bytes], Aborted | None]:
    got: list[bytes] = []
    try:
        for chunk in stream:
            got.append(chunk)
    except Aborted as aborted:
        return got, aborted
    return got, None


def test_a_fault_is_one_of_four_kinds_with_a_share_from_0_to_1():
    with pytest.raises(ValueError, match="a fault is one of \\('entries', 'calls', 'cut', 'latency'\\), not 'slow'"):
        Fault("slow")
    with pytest.raises(ValueError) as caught:
        Fault("entries", share=1.5)
    assert str(caught.value) == "share is from 0 to 1, not 1.5"
    assert Fault("calls").methods == frozenset({MUTATE_ROWS})


def test_a_fault_is_active_for_its_kind_and_methods_until_it_expires(proxy, clock):
    entries = Fault("entries", share=0.5)
    proxy.inject(entries, seconds=10)
    assert proxy.active("entries", MUTATE_ROWS) is entries
    assert proxy.active("entries", READ_ROWS) is None
    assert proxy.active("calls", MUTATE_ROWS) is None
    clock.now += 9.9
    assert proxy.active("entries", MUTATE_ROWS) is entries
    clock.now += 0.1
    assert proxy.active("entries", MUTATE_ROWS) is None
    proxy.inject(entries, seconds=10)
    proxy.clear()
    assert proxy.active("entries", MUTATE_ROWS) is None


def test_chance_is_seeded_so_a_run_can_be_repeated(proxy):
    expected = random.Random(7)
    assert [proxy.chance(0.3) for _ in range(50)] == [expected.random() < 0.3 for _ in range(50)]


def test_entries_refused_are_not_forwarded_and_keep_their_indexes(proxy, clock):
    proxy.inject(Fault("entries", grpc.StatusCode.UNAVAILABLE, share=0.5), seconds=60)
    keys = [b"k%d" % n for n in range(8)]
    chosen = random.Random(7)
    failed = {n for n in range(8) if chosen.random() < 0.5}
    assert 0 < len(failed) < 8  # the seed refuses some, not all
    raw, aborted = collect(proxy.streaming(MUTATE_ROWS, mutate_rows(keys), Context()))
    assert aborted is None
    [(method, forwarded, _)] = proxy._channel.calls
    assert method == MUTATE_ROWS
    assert [e.row_key for e in REQUEST.FromString(forwarded).entries] == [
        k for n, k in enumerate(keys) if n not in failed
    ]
    assert answers(raw) == [(n, 14 if n in failed else 0) for n in range(8)]  # 14: UNAVAILABLE
    assert proxy.stats["entries failed UNAVAILABLE"] == len(failed)
    assert proxy.stats["entries forwarded"] == 8 - len(failed)
    assert proxy.stats["calls"] == 1


def test_all_entries_refused_reach_nothing(proxy, clock):
    proxy.inject(Fault("entries", grpc.StatusCode.RESOURCE_EXHAUSTED, share=1.0), seconds=60)
    raw, aborted = collect(proxy.streaming(MUTATE_ROWS, mutate_rows([b"a", b"b"]), Context()))
    assert aborted is None and proxy._channel.calls == []
    assert answers(raw) == [(0, 8), (1, 8)]  # 8: RESOURCE_EXHAUSTED
    [entry, _] = RESPONSE.FromString(raw[0]).entries
    assert entry.status.message == "injected by the fault proxy: this entry was not applied"


def test_a_cut_stream_applies_all_answers_the_first_share_then_breaks(proxy, clock):
    proxy.inject(Fault("cut", share=0.5), seconds=60)
    raw, aborted = collect(proxy.streaming(MUTATE_ROWS, mutate_rows([b"a", b"b", b"c", b"d", b"e"]), Context()))
    [(_, forwarded, _)] = proxy._channel.calls
    assert len(REQUEST.FromString(forwarded).entries) == 5  # every entry applied
    assert answers(raw) == [(0, 0), (1, 0)]  # int(5 * 0.5) of them answered
    assert aborted is not None
    assert (aborted.code, aborted.details) == (
        grpc.StatusCode.UNAVAILABLE,
        "injected by the fault proxy: the stream broke off",
    )
    assert (proxy.stats["streams cut"], proxy.stats["entries unanswered"]) == (1, 3)


def test_whole_calls_fail_before_reaching_the_emulator(proxy, clock):
    proxy.inject(Fault("calls", grpc.StatusCode.DEADLINE_EXCEEDED, share=1.0), seconds=60)
    raw, aborted = collect(proxy.streaming(MUTATE_ROWS, mutate_rows([b"a"]), Context()))
    assert raw == [] and proxy._channel.calls == []
    assert aborted is not None and aborted.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert proxy.stats["calls failed DEADLINE_EXCEEDED"] == 1


def test_latency_holds_the_call_first(proxy, clock, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(fault_proxy.time, "sleep", slept.append)
    proxy.inject(Fault("latency", seconds=2.5, methods=frozenset({READ_ROWS})), seconds=60)
    collect(proxy.streaming(READ_ROWS, b"", Context()))
    assert slept == [2.5] and proxy.stats["calls delayed"] == 1
    collect(proxy.streaming(MUTATE_ROWS, mutate_rows([b"a"]), Context()))
    assert slept == [2.5]


def test_a_cut_read_answers_the_first_share_of_whole_rows(proxy, clock):
    answer = READ_RESPONSE()
    for n in range(4):  # four rows of two chunks each; the second commits the row
        answer.chunks.add(row_key=b"r%d" % n, value=b"a")
        answer.chunks.add(value=b"b", commit_row=True)
    proxy._channel = Upstream(read_rows=[answer.SerializeToString()])
    proxy.inject(Fault("cut", share=0.5, methods=frozenset({READ_ROWS})), seconds=60)
    raw, aborted = collect(proxy.streaming(READ_ROWS, b"", Context()))
    [chunks] = [READ_RESPONSE.FromString(chunk).chunks for chunk in raw]
    assert [c.row_key for c in chunks] == [b"r0", b"", b"r1", b""]
    assert aborted is not None and aborted.code == grpc.StatusCode.UNAVAILABLE
    assert (proxy.stats["read streams cut"], proxy.stats["rows unanswered"]) == (1, 2)


def test_only_the_callers_own_metadata_is_forwarded(proxy, clock):
    context = Context(
        (
            (":authority", "x"),
            ("user-agent", "grpc-python"),
            ("grpc-timeout", "5S"),
            ("x-goog-request-params", "table_name=t"),
            ("x-goog-api-client", "gl-python/3.11"),
        )
    )
    collect(proxy.streaming(MUTATE_ROWS, mutate_rows([b"a"]), context))
    [(_, _, metadata)] = proxy._channel.calls
    assert metadata == [("x-goog-request-params", "table_name=t"), ("x-goog-api-client", "gl-python/3.11")]


@pytest.mark.parametrize(
    ("method", "streams"),
    [
        (MUTATE_ROWS, True),
        (READ_ROWS, True),
        ("/google.bigtable.v2.Bigtable/MutateRow", False),
        ("/google.bigtable.admin.v2.BigtableTableAdmin/CreateTable", False),
    ],
)
def test_which_methods_stream_is_known_by_name(proxy, method, streams):
    class Details:
        pass

    details = Details()
    details.method = method  # type: ignore[attr-defined]
    handler = fault_proxy._Forwarder(proxy).service(details)
    assert (handler.response_streaming, handler.request_streaming) == (streams, False)
