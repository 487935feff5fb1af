"""A ``transactions_wire.bigtable.Sender`` through the generated client's ``mutate_rows``: the
shape the writer's stand-ins take (a scripted ``mutate_rows``, a scripted client), for failure
modes the emulator cannot produce. Test-only: a job sends on the channel (``mutate_rows_sender``)."""

from collections.abc import Callable, Iterable, Iterator

from google.cloud.bigtable_v2.types import bigtable as bigtable_types

MutateRowsRequestPb = bigtable_types.MutateRowsRequest.pb()


def generated_sender(mutate_rows: Callable[..., Iterable]) -> Callable[[bytes, tuple, float], Iterator]:
    """Each request's bytes parsed and handed to ``mutate_rows`` (which adds its own routing header)."""

    def send(request: bytes, metadata: tuple, timeout: float) -> Iterator:
        wrapped = bigtable_types.MutateRowsRequest.wrap(MutateRowsRequestPb.FromString(request))
        for response in mutate_rows(request=wrapped, retry=None, timeout=timeout):
            yield bigtable_types.MutateRowsResponse.pb(response)

    return send
