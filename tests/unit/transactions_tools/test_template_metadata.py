"""``transacoes-template-metadata``: the two launch forms, written from the parameter table, and
``--check`` telling a stale file from a current one. (That the committed files are current is
``tests/unit/transactions_pipeline/test_parameters.py``'s.)"""

import json

import pytest

from tests.output import one_clean_line
from transactions_pipeline import parameters
from transactions_pipeline.parameters import BACKFILL, STREAM
from transactions_tools import template_metadata


def test_the_stream_templates_form():
    document = template_metadata.metadata(STREAM)
    assert list(document) == [
        "name",
        "description",
        "streaming",
        "supportsAtLeastOnce",
        "supportsExactlyOnce",
        "defaultStreamingMode",
        "parameters",
    ]
    assert document["name"] == "Transactions: Pub/Sub to Bigtable (stream)"
    assert (document["streaming"], document["supportsAtLeastOnce"], document["supportsExactlyOnce"]) == (
        True,
        True,
        True,
    )
    assert document["defaultStreamingMode"] == parameters.STREAMING_MODE
    assert [p["name"] for p in document["parameters"]] == [p.name for p in parameters.of_template(STREAM)]


def test_the_backfill_templates_form():
    document = template_metadata.metadata(BACKFILL)
    assert list(document) == ["name", "description", "streaming", "parameters"]
    assert (document["name"], document["streaming"]) == ("Transactions: CSV files to Bigtable (backfill)", False)
    assert [p["name"] for p in document["parameters"]] == [p.name for p in parameters.of_template(BACKFILL)]


def test_a_parameters_entry_is_its_row_of_the_table_with_its_form_anchored():
    entries = {p["name"]: p for p in template_metadata.metadata(STREAM)["parameters"]}
    subscription = entries["input_subscription"]
    assert {k: v for k, v in subscription.items() if k != "helpText"} == {
        "name": "input_subscription",
        "label": "Input Pub/Sub subscription",
        "paramType": "PUBSUB_SUBSCRIPTION",
        "isOptional": False,
        "groupName": "Source",
        "regexes": ["^projects/[a-z][-a-z0-9:.]{4,61}[a-z0-9]/subscriptions/[A-Za-z][-A-Za-z0-9._~+%]{2,254}$"],
    }
    assert subscription["helpText"] == parameters.BY_NAME["input_subscription"].help_text
    assert entries["bigtable_table"]["regexes"] == ["^[-_.a-zA-Z0-9]{1,50}$"]
    optional = [p for p in parameters.of_template(STREAM) if not p.required and p.default is not None]
    assert optional, "a parameter with a default"
    for parameter in optional:
        assert entries[parameter.name]["isOptional"] is True
        assert entries[parameter.name]["defaultValue"] == parameter.default
    assert not any("defaultValue" in entries[p.name] for p in parameters.of_template(STREAM) if p.default is None)


def test_write_then_check_and_a_stale_file_is_named(tmp_path, capsys):
    assert template_metadata.main(["--write", "--root", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata-backfill.json", "metadata.json"]
    assert json.loads((tmp_path / "metadata.json").read_text()) == template_metadata.metadata(STREAM)
    assert (tmp_path / "metadata.json").read_text().endswith("}\n")
    assert template_metadata.main(["--check", "--root", str(tmp_path)]) == 0
    capsys.readouterr()
    (tmp_path / "metadata-backfill.json").write_text("{}\n")
    assert template_metadata.main(["--check", "--root", str(tmp_path)]) == 1
    assert one_clean_line(capsys.readouterr().err, 300) == (
        f"error: {tmp_path / 'metadata-backfill.json'} differ from the parameter table; run make metadata"
    )


def test_one_action_exactly(capsys):
    with pytest.raises(SystemExit) as stop:
        template_metadata.main([])
    assert stop.value.code == 2
    with pytest.raises(SystemExit):
        template_metadata.main(["--write", "--check"])
