"""Producer benchmark: ``python -m producer --rate 0`` against a plain ``PublisherClient`` loop.

Each contender runs in its own process (``python -m benchmarks.publish <contender> ...``), on
the same messages (the sample CSV, looped, built by the producer's own code), and reports
the wall time and CPU of its publishing (after imports) as one JSON line:

- ``plain``: ``PublisherClient().publish(topic, data, **attributes)`` for each message, with
  the client's default batching, then every future's ``result()`` checked;
- ``producer``: ``producer.cli.main`` with ``--rate 0``: exactly ``python -m producer``, its
  topic check, flow control, retries and accounting included;
- ``ceiling``: the messages built before the clock starts, then sent as raw ``PublishRequest``
  protobufs of 1,000 over the client's own gRPC channel on 4 threads: what the transport and
  the emulator allow, with no per-message Python at all.

The topic has no subscription, so the emulator stores nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import islice
from typing import cast

from benchmarks.measure import Contender, Result, Sample, alternate, faster, report_from_child, run_child
from transactions_wire.channel import GrpcTransport

CONTENDERS = ("plain", "producer", "ceiling")


def _sample_messages(limit: int):
    from producer.cli import DEFAULT_CSV, Replay, ReplaySource

    return islice(Replay(ReplaySource(csv=DEFAULT_CSV, run_id="bench", loop=True)).messages(), limit)


def _plain(topic: str, limit: int) -> int:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    futures = [publisher.publish(topic, m.data, **m.attributes) for m in _sample_messages(limit)]
    for future in futures:
        future.result(timeout=120)
    return len(futures)


def _producer(topic: str, limit: int) -> int:
    from producer.cli import main

    argv = [
        "--rate",
        "0",
        "--loop",
        "--limit",
        str(limit),
        "--topic",
        topic,
        "--run-id",
        "bench",
        "--report-every",
        "3600",
    ]
    if main(argv) != 0:
        raise SystemExit("the producer failed")
    return limit


def _ceiling(topic: str, limit: int) -> tuple[int, Callable[[], int]]:
    from google.cloud import pubsub_v1
    from google.pubsub_v1.types import PublishRequest, PublishResponse, PubsubMessage

    message_pb, request_pb, response_pb = PubsubMessage.pb(), PublishRequest.pb(), PublishResponse.pb()
    transport = cast(GrpcTransport, pubsub_v1.PublisherClient()._transport)  # a gRPC one, as in a job
    channel = transport.grpc_channel  # the client's own channel and credentials
    publish = channel.unary_unary(
        "/google.pubsub.v1.Publisher/Publish",
        request_serializer=request_pb.SerializeToString,
        response_deserializer=response_pb.FromString,
    )
    built = [message_pb(data=m.data, attributes=m.attributes) for m in _sample_messages(limit)]
    requests = [request_pb(topic=topic, messages=built[i : i + 1000]) for i in range(0, len(built), 1000)]

    def send_all() -> int:
        with ThreadPoolExecutor(4) as pool:
            answered = sum(len(r.message_ids) for r in pool.map(lambda request: publish(request, timeout=60), requests))
        if answered != len(built):
            raise SystemExit(f"{answered} ids for {len(built)} messages")
        return answered

    return len(built), send_all


def child(contender: str, topic: str, limit: int) -> None:
    """Run one contender in this process and report its sample."""
    if contender == "ceiling":
        _, work = _ceiling(topic, limit)  # building the messages is not timed
    else:
        work = {"plain": partial(_plain, topic, limit), "producer": partial(_producer, topic, limit)}[contender]
    report_from_child(work)


def _run_child(contender: str, topic: str, limit: int) -> Sample:
    return run_child("benchmarks.publish", contender, "--topic", topic, "--limit", str(limit), timeout=900)[0]


def run(count: int, rounds: int, topic: str, log=print) -> list[Result]:
    log(f"publish: {count:,} messages to the Pub/Sub emulator, one process per run, {rounds} rounds")
    contenders = {name: Contender(partial(_run_child, name, topic, count)) for name in CONTENDERS}
    medians = alternate(contenders, rounds, log)
    return [
        Result(
            "publish: producer",
            "PublisherClient.publish loop",
            "python -m producer --rate 0",
            medians["plain"],
            medians["producer"],
            goal=faster(8),
            floor=medians["ceiling"],
        ),
        Result(
            "publish: raw gRPC ceiling (reference)",
            "PublisherClient.publish loop",
            "pre-built raw PublishRequests",
            medians["plain"],
            medians["ceiling"],
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--limit", type=int, required=True)
    options = parser.parse_args()
    child(options.contender, options.topic, options.limit)
