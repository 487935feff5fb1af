"""Replay the e-commerce CSV into Pub/Sub as contract-v1 messages: a live stream or a load test.

It builds on contract v1 (:mod:`transactions`: the Kaggle reader, message building) and the
wire encoders (:mod:`transactions_wire`), and depends on google-cloud-pubsub and orjson only: no Beam, and never the
pipeline. Modules: ``breaking`` (deliberately broken messages for the dead-letter path),
``pacing`` (a drift-free schedule), ``publisher`` (batched, flow-controlled publishing through
the generated client), ``stats`` (counts and latencies), and ``cli`` (options, signals, exit codes).
"""
