"""Operator and local-development tools, on top of the pipeline and the producer.

Installed as console scripts (``transacoes-provision``, ``transacoes-lookup``, ...) in the
development environment; never copied into the template image, which carries only what the
launcher and the workers run. Modules:

- ``defaults``: the default resource names, and the local emulators' project and instance.
- ``provision``: create topics, subscriptions, the table and its families, idempotently.
- ``lookup``: a user's latest transactions (a prefix scan).
- ``deadletters``: inspect the dead letters, and replay the ones that can be fixed.
- ``template_metadata``: the two templates' launch forms, written from the parameter table.
- ``local``: the emulators, the background stack (``make up``/``make down``) and the demo.
"""
