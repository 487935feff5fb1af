"""The one place that relies on the generated Google clients' internals: messages written in
protobuf wire format, and sent as those bytes on the generated client's own channel.

Building the request objects field by field, then having gRPC serialize them again, was most of
the cost of our two hot paths (the Bigtable sink and the producer); ``make bench`` measures it
(``benchmarks/RESULTS.md``). Everything that trades the generated clients' object API for bytes
lives here, so it is reviewed, tested and upgraded in one place, and both images carry it (it
imports neither Beam nor our other packages); so does the one way every client is opened and
closed. Modules:

- ``protowire``: varints, tags, length-delimited fields;
- ``channel``: a call on the generated client's channel, wrapped as the generated transport
  wraps its own methods (credentials, endpoint, ``x-goog-api-client``, timeouts, errors mapped
  to ``google.api_core`` exceptions), with the routing header the generated client adds;
- ``bigtable``: ``MutateRowsRequest`` entries and requests, and the ``MutateRows`` sender;
- ``pubsub``: ``PubsubMessage`` and ``PublishRequest``, and the ``Publish`` sender;
- ``clients``: a context manager for each Google client we use, closing every channel it opened.

Each encoder is checked byte for byte against the protobuf library (``tests/unit/transactions_wire``),
and each sender against the generated client on the emulator's wire
(``tests/integration/test_bigtable_client_emulator.py``, ``test_publisher_emulator.py``).
"""
