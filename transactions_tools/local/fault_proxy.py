"""A fault-injecting gRPC proxy in front of the Bigtable emulator: a busy cluster, on demand.

The emulator is cooperative: it never answers UNAVAILABLE or RESOURCE_EXHAUSTED for some entries
of a ``MutateRows`` call while writing the others, never cuts a response stream halfway, and is
never slow. A production cluster does all of that (a hot tablet, a node under load, a rolling
restart). This proxy sits between a client and the emulator, forwards every method of every
service as raw bytes, and can be told, for a time window:

- ``entries``: to fail a share of the entries of each ``MutateRows`` call with a code, *without*
  applying them (they are dropped from the forwarded request; the answer's indexes stay right);
- ``calls``: to fail a share of the calls of the given methods (any method, of any service: the
  Pub/Sub emulator can sit behind it too) with a code, before they reach the emulator;
- ``cut``: to apply a ``MutateRows`` call, answer only the first share of its entries, then break
  the stream with UNAVAILABLE; or to answer a ``ReadRows`` call with only the first share of its
  rows (at least one of two or more), then break the stream the same way;
- ``latency``: to hold each call of the given methods for some seconds first.

Point a client at it with ``BIGTABLE_EMULATOR_HOST=<proxy address>``. The project's chaos tests
(``tests/integration/test_chaos_emulator.py``) and ``make chaos`` use it; it is a local tool, never
in an image. Which methods stream is known by name (every other method is unary).

    proxy = FaultProxy("127.0.0.1:8086").start()
    proxy.inject(Fault("entries", grpc.StatusCode.UNAVAILABLE, share=0.3), seconds=15)
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass

import grpc

BIGTABLE = "/google.bigtable.v2.Bigtable/"
MUTATE_ROWS = BIGTABLE + "MutateRows"
READ_ROWS = BIGTABLE + "ReadRows"
STREAMING_METHODS = frozenset(
    BIGTABLE + name
    for name in (
        "ReadRows",
        "SampleRowKeys",
        "MutateRows",
        "ExecuteQuery",
        "ReadChangeStream",
        "GenerateInitialChangeStreamPartitions",
    )
)
"""Server-streaming methods of the Bigtable data API; every other method (admin included) is unary."""
KINDS = ("entries", "calls", "cut", "latency")
_HOP_HEADERS = {"user-agent", "te", "content-type", "grpc-accept-encoding", "grpc-timeout", "grpc-encoding"}


@dataclass(frozen=True)
class Fault:
    """One kind of misbehaviour (see the module's docstring); ``share`` is of entries, calls or rows,
    ``seconds`` of latency."""

    kind: str
    code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    share: float = 0.3
    seconds: float = 0.0
    methods: frozenset[str] = frozenset({MUTATE_ROWS})

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"a fault is one of {KINDS}, not {self.kind!r}")
        if not 0 <= self.share <= 1:
            raise ValueError(f"share is from 0 to 1, not {self.share}")


def _code_number(code: grpc.StatusCode) -> int:
    return code.value[0]


class FaultProxy:
    """The proxy: :meth:`start`, :meth:`inject` faults for a while, read :attr:`stats`, :meth:`stop`."""

    def __init__(self, upstream: str, seed: int = 20261201) -> None:
        self.upstream = upstream
        self.address = ""
        self.stats: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._faults: list[tuple[Fault, float]] = []
        self._channel = grpc.insecure_channel(
            upstream, options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        )
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="fault-proxy"),
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        self._server.add_generic_rpc_handlers([_Forwarder(self)])

    def start(self) -> FaultProxy:
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.address = f"127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        self._server.stop(grace=1).wait(5)
        self._channel.close()

    def inject(self, fault: Fault, seconds: float) -> None:
        """Misbehave this way from now on, for ``seconds`` (faults of different kinds add up)."""
        with self._lock:
            self._faults.append((fault, time.monotonic() + seconds))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self, kind: str, method: str) -> Fault | None:
        now = time.monotonic()
        with self._lock:
            self._faults = [(fault, until) for fault, until in self._faults if until > now]
            for fault, _ in self._faults:
                if fault.kind == kind and method in fault.methods:
                    return fault
        return None

    def chance(self, share: float) -> bool:
        with self._lock:
            return self._random.random() < share

    def count(self, what: str, amount: int = 1) -> None:
        with self._lock:
            self.stats[what] += amount

    # What the handlers do with one call.

    def _metadata(self, context: grpc.ServicerContext) -> list[tuple[str, str]]:
        return [(k, v) for k, v in context.invocation_metadata() if not k.startswith(":") and k not in _HOP_HEADERS]

    def _before(self, method: str, context: grpc.ServicerContext) -> None:
        self.count("calls")
        delay = self.active("latency", method)
        if delay is not None:
            self.count("calls delayed")
            time.sleep(delay.seconds)
        failure = self.active("calls", method)
        if failure is not None and self.chance(failure.share):
            self.count(f"calls failed {failure.code.name}")
            context.abort(failure.code, "injected by the fault proxy: the whole call")

    def unary(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        self._before(method, context)
        try:
            return self._channel.unary_unary(method)(
                request, metadata=self._metadata(context), timeout=context.time_remaining()
            )
        except grpc.RpcError as error:
            context.abort(error.code(), error.details() or "")
            raise AssertionError("context.abort raises") from error

    def streaming(self, method: str, request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
        self._before(method, context)
        if method == MUTATE_ROWS:
            entries_fault, cut = self.active("entries", method), self.active("cut", method)
            if entries_fault is not None or cut is not None:
                yield from self._mutate_rows(request, context, entries_fault, cut)
                return
        if method == READ_ROWS:
            cut = self.active("cut", method)
            if cut is not None:
                yield from self._read_rows_cut(request, context, cut)
                return
        try:
            yield from self._channel.unary_stream(method)(
                request, metadata=self._metadata(context), timeout=context.time_remaining()
            )
        except grpc.RpcError as error:
            context.abort(error.code(), error.details() or "")

    def _mutate_rows(
        self, request: bytes, context: grpc.ServicerContext, entries_fault: Fault | None, cut: Fault | None
    ) -> Iterator[bytes]:
        from google.cloud.bigtable_v2.types import bigtable as bigtable_types

        request_type = bigtable_types.MutateRowsRequest.pb()
        response_type = bigtable_types.MutateRowsResponse.pb()
        parsed = request_type.FromString(request)
        size = len(parsed.entries)
        failed: set[int] = set()
        answers = response_type()
        if entries_fault is not None:
            failed = {i for i in range(size) if self.chance(entries_fault.share)}
            for index in sorted(failed):
                entry = answers.entries.add(index=index)
                entry.status.code = _code_number(entries_fault.code)
                entry.status.message = "injected by the fault proxy: this entry was not applied"
            if failed:
                self.count(f"entries failed {entries_fault.code.name}", len(failed))
        kept = [i for i in range(size) if i not in failed]
        if kept:
            forwarded = request_type()
            forwarded.CopyFrom(parsed)
            del forwarded.entries[:]
            forwarded.entries.extend(parsed.entries[i] for i in kept)
            try:
                for raw in self._channel.unary_stream(MUTATE_ROWS)(
                    forwarded.SerializeToString(), metadata=self._metadata(context), timeout=context.time_remaining()
                ):
                    for entry in response_type.FromString(raw).entries:
                        answer = answers.entries.add(index=kept[entry.index])
                        answer.status.CopyFrom(entry.status)
            except grpc.RpcError as error:
                context.abort(error.code(), error.details() or "")
            self.count("entries forwarded", len(kept))
        if cut is None:
            yield answers.SerializeToString()
            return
        answered = response_type()
        ordered = sorted(answers.entries, key=lambda e: e.index)
        answered.entries.extend(ordered[: int(len(ordered) * cut.share)])
        self.count("streams cut")
        self.count("entries unanswered", len(ordered) - len(answered.entries))
        yield answered.SerializeToString()
        context.abort(grpc.StatusCode.UNAVAILABLE, "injected by the fault proxy: the stream broke off")

    def _read_rows_cut(self, request: bytes, context: grpc.ServicerContext, cut: Fault) -> Iterator[bytes]:
        """The first share of the rows the emulator answers (whole rows: up to a committed one), then
        UNAVAILABLE, as a stream broken off by a restarting node."""
        from google.cloud.bigtable_v2.types import bigtable as bigtable_types

        response_type = bigtable_types.ReadRowsResponse.pb()
        chunks = []
        try:
            for raw in self._channel.unary_stream(READ_ROWS)(
                request, metadata=self._metadata(context), timeout=context.time_remaining()
            ):
                chunks.extend(response_type.FromString(raw).chunks)
        except grpc.RpcError as error:
            context.abort(error.code(), error.details() or "")
        ends = [index for index, chunk in enumerate(chunks) if chunk.commit_row]
        if len(ends) < 2:  # nothing to cut within: answer it whole
            answer = response_type()
            answer.chunks.extend(chunks)
            yield answer.SerializeToString()
            return
        rows = max(1, int(len(ends) * cut.share))
        answer = response_type()
        answer.chunks.extend(chunks[: ends[rows - 1] + 1])
        self.count("read streams cut")
        self.count("rows unanswered", len(ends) - rows)
        yield answer.SerializeToString()
        context.abort(grpc.StatusCode.UNAVAILABLE, "injected by the fault proxy: the stream broke off")


class _Forwarder(grpc.GenericRpcHandler):
    """Every method, as raw bytes: unary, or server-streaming by name."""

    def __init__(self, proxy: FaultProxy) -> None:
        self._proxy = proxy

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if method in STREAMING_METHODS:
            return grpc.unary_stream_rpc_method_handler(
                lambda request, context: self._proxy.streaming(method, request, context)
            )
        return grpc.unary_unary_rpc_method_handler(lambda request, context: self._proxy.unary(method, request, context))
