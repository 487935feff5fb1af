"""A raw call on a generated client's channel, wrapped as the generated transport wraps its own.

The channel is a stand-in that records what is asked of it (no network): what matters here is
what :func:`raw_method` asks the channel for (no request serializer, the response type's parser)
and what the wrapped call sends (the request's bytes as they are, the ``x-goog-api-client``
header, the default or the given timeout) and raises (gRPC errors as ``google.api_core``
exceptions). The same calls against the emulator's real channel are
``tests/integration/test_bigtable_client_emulator.py`` and ``test_publisher_emulator.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.api_core import exceptions as api_exceptions
from google.api_core.gapic_v1.client_info import ClientInfo

from transactions_wire import channel

CLIENT_INFO = ClientInfo(client_library_version="9.8.7")


class Response:
    @staticmethod
    def FromString(data: bytes) -> bytes:
        return b"parsed:" + data


class Unavailable(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "the backend is busy"

    def trailing_metadata(self) -> tuple:
        return ()


@dataclass
class Channel:
    """Records each stub asked for and each call made on it; a call answers or raises as told."""

    answer: Any = "answer"
    stubs: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    calls: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)

    def _stub(self, kind: str, path: str, request_serializer: Any, response_deserializer: Any) -> Any:
        self.stubs.append((kind, path, request_serializer, response_deserializer))

        def call(request: bytes, **kwargs: Any) -> Any:
            self.calls.append((request, kwargs))
            if isinstance(self.answer, BaseException):
                raise self.answer
            return self.answer

        return call

    def unary_unary(self, path: str, **kwargs: Any) -> Any:
        return self._stub("unary_unary", path, **kwargs)

    def unary_stream(self, path: str, **kwargs: Any) -> Any:
        return self._stub("unary_stream", path, **kwargs)


@dataclass
class Transport:
    grpc_channel: Channel


@pytest.mark.parametrize(("streaming", "kind"), [(False, "unary_unary"), (True, "unary_stream")])
def test_the_stub_takes_bytes_as_they_are_and_parses_the_answer(streaming, kind):
    fake = Channel()
    channel.raw_method(
        Transport(fake),
        "/google.pubsub.v1.Publisher/Publish",
        Response,
        streaming=streaming,
        default_timeout=60.0,
        client_info=CLIENT_INFO,
    )
    [(made, path, serializer, deserializer)] = fake.stubs
    assert (made, path, serializer) == (kind, "/google.pubsub.v1.Publisher/Publish", None)
    assert deserializer(b"x") == b"parsed:x"


def test_a_call_carries_the_client_header_and_the_default_timeout():
    fake = Channel()
    call = channel.raw_method(
        Transport(fake), "/p.S/M", Response, streaming=False, default_timeout=60.0, client_info=CLIENT_INFO
    )
    assert call(b"\x0a\x01t") == "answer"
    assert fake.calls == [
        (b"\x0a\x01t", {"metadata": (("x-goog-api-client", CLIENT_INFO.to_user_agent()),), "timeout": 60.0})
    ]
    assert "gccl/9.8.7" in CLIENT_INFO.to_user_agent()


def test_a_given_timeout_and_routing_header_go_along():
    fake = Channel()
    call = channel.raw_method(
        Transport(fake), "/p.S/M", Response, streaming=True, default_timeout=60.0, client_info=CLIENT_INFO
    )
    call(b"r", retry=None, timeout=5.0, metadata=channel.routing_header({"topic": "projects/p/topics/t"}))
    [(_, kwargs)] = fake.calls
    assert kwargs["timeout"] == 5.0
    assert list(kwargs["metadata"]) == [
        ("x-goog-api-client", CLIENT_INFO.to_user_agent()),
        ("x-goog-request-params", "topic=projects/p/topics/t"),
    ]


def test_a_grpc_error_is_the_api_cores_exception():
    fake = Channel(answer=Unavailable())
    call = channel.raw_method(
        Transport(fake), "/p.S/M", Response, streaming=False, default_timeout=1.0, client_info=CLIENT_INFO
    )
    with pytest.raises(api_exceptions.ServiceUnavailable, match="the backend is busy"):
        call(b"r", retry=None)


def test_the_routing_header_is_the_generated_clients():
    """Names in order, values form-encoded but for '/', an empty app profile named all the same."""
    assert channel.routing_header({"table_name": "projects/p/instances/i/tables/t", "app_profile_id": ""}) == (
        ("x-goog-request-params", "table_name=projects/p/instances/i/tables/t&app_profile_id="),
    )
    assert channel.routing_header({"topic": "projects/p/topics/a b&c"}) == (
        ("x-goog-request-params", "topic=projects/p/topics/a+b%26c"),
    )
