"""A call sent as bytes on a generated client's own channel, wrapped as the generated transport
wraps its methods.

Handing pre-encoded bytes to a generated method would parse them into a request object only for
gRPC to serialize it again. :func:`raw_method` instead asks the channel the library built for
the method (so Application Default Credentials, the endpoint, TLS and the ``*_EMULATOR_HOST``
switch are the library's), with no request serializer, and wraps it with
``gapic_v1.method.wrap_method`` and the service's client info, as the transport does: the
``x-goog-api-client`` header, the default timeout, retries when given, and gRPC errors mapped to
``google.api_core`` exceptions. :func:`routing_header` is the ``x-goog-request-params`` header
the generated client adds, built the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from google.api_core.gapic_v1.client_info import ClientInfo


Metadata = tuple[tuple[str, str], ...]
"""A call's gRPC metadata: (key, value) pairs."""


class GrpcTransport(Protocol):
    """A generated client's gRPC transport (``PublisherGrpcTransport``, ``BigtableGrpcTransport``)."""

    @property
    def grpc_channel(self) -> Any: ...  # a grpc.Channel: grpc ships no type information


def raw_method(
    transport: object,
    path: str,
    response_type: Any,
    *,
    streaming: bool,
    default_timeout: float,
    client_info: ClientInfo,
) -> Callable[..., Any]:
    """``path`` (``/package.Service/Method``) on ``transport``'s channel: takes the request's
    bytes, returns the response protobuf (or an iterator of them when ``streaming``).

    ``transport`` is a generated client's ``transport``, a gRPC one: the generated clients declare
    it as their base transport class, and only its gRPC subclass has the channel.
    ``response_type`` is the response's protobuf class (protobuf ships no type information)."""
    from google.api_core import gapic_v1

    channel = cast(GrpcTransport, transport).grpc_channel
    make = channel.unary_stream if streaming else channel.unary_unary
    stub = make(path, request_serializer=None, response_deserializer=response_type.FromString)
    return gapic_v1.method.wrap_method(stub, default_timeout=default_timeout, client_info=client_info)


def routing_header(params: Mapping[str, str]) -> Metadata:
    """The request's routing metadata, as the generated client builds it."""
    from google.api_core import gapic_v1

    return (gapic_v1.routing_header.to_grpc_metadata(dict(params)),)
