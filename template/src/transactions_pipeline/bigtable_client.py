"""How the writer sends a ``MutateRows`` request: bytes in, the service's answers out.

The writer encodes each request itself (:mod:`transactions_pipeline.mutations`), so handing it to
the generated client would parse those bytes into a protobuf object only for gRPC to serialize
it again: two copies of every request, most of the client's cost per row. :func:`channel_sender`
sends the bytes as they are, on the generated client's own channel, wrapped the way the
generated transport wraps its own methods, so what the service sees is what the generated
client would send:

- the channel the library built: Application Default Credentials, the endpoint, TLS, and
  ``BIGTABLE_EMULATOR_HOST`` honoured by the library itself;
- ``gapic_v1.method.wrap_method`` with the transport's client info: the ``x-goog-api-client``
  header, timeouts, and gRPC errors mapped to ``google.api_core`` exceptions;
- the routing header (``x-goog-request-params``) of the table and app profile, built with
  ``gapic_v1.routing_header`` as the generated client builds it.

Retries are the writer's own (it asks for none here). ``tests/integration/test_bigtable_client_emulator.py``
compares this path with the generated client's on the wire. :func:`generated_sender` goes through
the generated client's ``mutate_rows`` instead, for stand-ins that tests script.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from google.api_core import gapic_v1
from google.cloud.bigtable_v2.types import bigtable as bigtable_types

MutateRowsResponsePb = bigtable_types.MutateRowsResponse.pb()
MutateRowsRequestPb = bigtable_types.MutateRowsRequest.pb()
METHOD = "/google.bigtable.v2.Bigtable/MutateRows"

Sender = Callable[[bytes, tuple, float], Iterable]
"""(encoded MutateRowsRequest, routing metadata, timeout) -> the MutateRowsResponse protobufs."""


def routing_metadata(table_name: str, app_profile_id: str) -> tuple:
    """The ``x-goog-request-params`` header of a table and app profile, as the generated client
    builds it (it names the app profile even when it is empty)."""
    params = {"table_name": table_name, "app_profile_id": app_profile_id}
    return (gapic_v1.routing_header.to_grpc_metadata(params),)


def channel_sender(table_data_client) -> Sender:
    """A sender on the generated client's channel (see the module's docstring)."""
    from google.cloud.bigtable_v2.services.bigtable.transports.base import DEFAULT_CLIENT_INFO

    transport = table_data_client.transport
    stub = transport.grpc_channel.unary_stream(
        METHOD, request_serializer=None, response_deserializer=MutateRowsResponsePb.FromString
    )
    wrapped = gapic_v1.method.wrap_method(stub, default_timeout=600.0, client_info=DEFAULT_CLIENT_INFO)

    def send(request: bytes, metadata: tuple, timeout: float) -> Iterable:
        return wrapped(request, retry=None, timeout=timeout, metadata=metadata)

    return send


def generated_sender(mutate_rows: Callable[..., Iterable]) -> Sender:
    """A sender through the generated client's ``mutate_rows`` (which adds its own routing header)."""

    def send(request: bytes, metadata: tuple, timeout: float) -> Iterator:
        wrapped = bigtable_types.MutateRowsRequest.wrap(MutateRowsRequestPb.FromString(request))
        for response in mutate_rows(request=wrapped, retry=None, timeout=timeout):
            yield bigtable_types.MutateRowsResponse.pb(response)

    return send
