"""Default resource names, in one place: what provisioning creates and the local stack uses.

The topic, subscription and table names are the same on the emulators and in a real project
(``transacoes-provision`` creates them under any project); ``PROJECT`` and ``INSTANCE`` are the
emulators' own. Beam checks Pub/Sub project ids, so the local project needs 6+ characters
(``local-project``, never ``demo``); the Bigtable emulator accepts any instance name.
"""

from transactions import forgotten, layout, rollup_layout

PROJECT = "local-project"
INSTANCE = "local-instance"
TABLE = layout.DEFAULT_TABLE
COLUMN_FAMILY = layout.FAMILY
ROLLUPS_TABLE = "transacoes_rollups"
ROLLUP_FAMILIES = rollup_layout.FAMILIES
FORGOTTEN_TABLE = forgotten.DEFAULT_TABLE
FORGOTTEN_FAMILIES = (forgotten.FAMILY,)
TOPIC = "transacoes"
SUBSCRIPTION = "transacoes-pipeline"
DEAD_LETTER_TOPIC = "transacoes-dead-letter"
DEAD_LETTER_SUBSCRIPTION = "transacoes-dead-letter-sub"
