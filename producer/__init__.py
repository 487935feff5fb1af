"""Replay the e-commerce CSV into Pub/Sub as contract-v1 messages: a live stream or a load test.

Modules: ``csv_source`` (reading the Kaggle format), ``messages`` (rows -> contract v1, and the
deliberately broken ones), ``pacing`` (a drift-free schedule), ``publisher`` (batched, flow-
controlled publishing through the generated client, with its counts and latencies),
``protowire`` (the protobuf wire-format helpers it shares with the template), and ``cli``
(options, signals, exit codes). It depends on google-cloud-pubsub and orjson only.
"""
