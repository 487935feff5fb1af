"""The default resource names: the ones the docs, the Makefile's stack and ``deploy/infra`` use,
each of a form its service accepts."""

import pytest

from transactions import resource_names
from transactions_tools import defaults


def test_the_default_names():
    assert (defaults.PROJECT, defaults.INSTANCE) == ("local-project", "local-instance")
    assert (defaults.TABLE, defaults.COLUMN_FAMILY) == ("transacoes", "dados")
    assert (defaults.ROLLUPS_TABLE, defaults.ROLLUP_FAMILIES) == ("transacoes_rollups", ("agg", "ids"))
    assert (defaults.TOPIC, defaults.SUBSCRIPTION) == ("transacoes", "transacoes-pipeline")
    assert (defaults.DEAD_LETTER_TOPIC, defaults.DEAD_LETTER_SUBSCRIPTION) == (
        "transacoes-dead-letter",
        "transacoes-dead-letter-sub",
    )


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("project", defaults.PROJECT),  # Beam checks Pub/Sub project ids: 6 characters at least
        ("bigtable_instance", defaults.INSTANCE),
        ("bigtable_table", defaults.TABLE),
        ("bigtable_table", defaults.ROLLUPS_TABLE),
        ("column_family", defaults.COLUMN_FAMILY),
        *(("column_family", family) for family in defaults.ROLLUP_FAMILIES),
        ("pubsub_id", defaults.TOPIC),
        ("pubsub_id", defaults.SUBSCRIPTION),
        ("pubsub_id", defaults.DEAD_LETTER_TOPIC),
        ("pubsub_id", defaults.DEAD_LETTER_SUBSCRIPTION),
    ],
)
def test_each_default_fits_its_form(kind, value):
    assert resource_names.is_valid(kind, value)
