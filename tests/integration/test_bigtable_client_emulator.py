"""Our ``MutateRows`` sender against the generated client's own ``mutate_rows``, on the wire.

Both run on one channel to the emulator, through a gRPC interceptor that records what each
call sends: the method, the metadata (routing header, ``x-goog-api-client``) and the request
bytes. Ours must send exactly what the generated client sends, and the rows must land.
"""

import grpc
import pytest
from google.cloud.bigtable_v2.services.bigtable import BigtableClient
from google.cloud.bigtable_v2.services.bigtable.transports import BigtableGrpcTransport
from google.cloud.bigtable_v2.types import bigtable as bigtable_types

from tests.integration.harness import INSTANCE, PROJECT, provision_for_test, read_rows
from tests.rows import row_of
from transactions_pipeline.bigtable_writer import BigtableTarget
from transactions_wire.bigtable import encode_entry, mutate_rows_request_bytes, mutate_rows_sender, routing_metadata

pytestmark = pytest.mark.integration


class Recorder(grpc.UnaryStreamClientInterceptor):
    def __init__(self):
        self.calls = []

    def intercept_unary_stream(self, continuation, details, request):
        wire = request if isinstance(request, bytes) else bigtable_types.MutateRowsRequest.serialize(request)
        self.calls.append((details.method, sorted(details.metadata or ()), wire))
        return continuation(details, request)


@pytest.mark.parametrize("app_profile", ["", "writes"])
def test_our_sender_puts_on_the_wire_what_the_generated_client_does(emulators, unique, app_profile):
    resources = provision_for_test(f"{unique}{app_profile}")
    target = BigtableTarget(PROJECT, INSTANCE, resources.table, resources.column_family, app_profile)
    recorder = Recorder()
    channel = grpc.intercept_channel(grpc.insecure_channel(emulators.bigtable_host), recorder)
    client = BigtableClient(transport=BigtableGrpcTransport(channel=channel))
    rows = [row_of(f"u{i}#0000000000001#t".encode(), ((b"price", b"1.00"),), 5000) for i in range(3)]
    request = mutate_rows_request_bytes(target.table_name, app_profile, [encode_entry(r, "dados") for r in rows])

    generated = client.mutate_rows(
        request=bigtable_types.MutateRowsRequest.deserialize(request), retry=None, timeout=30
    )
    assert all(entry.status.code == 0 for response in generated for entry in response.entries)
    ours = mutate_rows_sender(client)(request, routing_metadata(target.table_name, app_profile), 30)
    assert all(entry.status.code == 0 for response in ours for entry in response.entries)

    [generated_call, our_call] = recorder.calls
    assert our_call == generated_call
    assert our_call[0] == "/google.bigtable.v2.Bigtable/MutateRows"
    headers = dict(our_call[1])
    assert "x-goog-request-params" in headers and "x-goog-api-client" in headers
    assert len(read_rows(resources)) == 3
