"""Operator and local-development tools, on top of the pipeline and the producer.

Installed as console scripts (``transacoes-provision``, ``transacoes-lookup``, ...) in the
development environment; never copied into the template image, which carries only what the
launcher and the workers run. Modules:

- ``defaults``: the default resource names, and the local emulators' project and instance.
- ``provision``: create topics, subscriptions, the tables and their families, idempotently.
- ``lookup``: a user's latest transactions (a prefix scan), or the live rollups' windows.
- ``triage`` (``transacoes-deadletters``): inspect the dead letters, and replay the ones that
  can be fixed; ``dead_letter_lease`` (holding pulled dead letters under a lease),
  ``dead_letter_report`` (what ``inspect`` reports) and ``replay_plan`` (what a replay takes).
- ``rewind`` (``transacoes-rewind``) and ``forget`` (``transacoes-forget``): reprocess the stream
  from a time or a snapshot; delete a user's rows, rollups and dead letters (``docs/data-lifecycle.md``).
- ``template_metadata``: the two templates' launch forms, written from the parameter table.
- ``digest``: a table's fingerprint (rows, and a sha256 over every cell), to compare two loads.
- ``local``: the emulators, the background stack (``make up``/``make down``), the demo, and
  ``make chaos`` with its fault-injecting proxy and its audit of the rollups.
"""
