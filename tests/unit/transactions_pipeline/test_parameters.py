"""The two templates' parameters: the table, the launch options, and the metadata files drawn from it.

The metadata files are what the Console's launch form and ``gcloud dataflow flex-template
build`` read; the Dataflow API's own field names and parameter types (gcloud's v1b3 messages)
are the reference here.
"""

import argparse
import json
import re
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, WorkerOptions

from transactions_pipeline.options import TransactionsOptions
from transactions_pipeline.parameters import BACKFILL, BY_NAME, PARAMETERS, STREAM, STREAMING_MODE, of_template
from transactions_tools import template_metadata

ROOT = Path(__file__).resolve().parents[3]
METADATA = {template: json.loads((ROOT / name).read_text()) for template, name in template_metadata.FILES.items()}
PARAMETER_FIELDS = {
    "name",
    "label",
    "helpText",
    "isOptional",
    "regexes",
    "paramType",
    "defaultValue",
    "groupName",
    "parentName",
    "parentTriggerValues",
    "enumOptions",
    "customMetadata",
    "hiddenUi",
}
"""ParameterMetadata's fields in the Dataflow v1b3 API (gcloud's generated messages)."""
PARAM_TYPES = {"TEXT", "GCS_READ_FILE", "PUBSUB_TOPIC", "PUBSUB_SUBSCRIPTION", "NUMBER", "BOOLEAN"}


def test_the_committed_metadata_files_are_the_parameter_table():
    assert template_metadata.main(["--check", "--root", str(ROOT)]) == 0


@pytest.mark.parametrize(("template", "inputs"), [(STREAM, {"input_subscription"}), (BACKFILL, {"input_file"})])
def test_each_form_shows_only_its_own_template_parameters(template, inputs):
    names = {p["name"] for p in METADATA[template]["parameters"]}
    assert names & {"input_subscription", "input_file"} == inputs
    assert names == {p.name for p in of_template(template)}
    assert {"dead_letter_topic", "bigtable_instance", "bigtable_table", "sdk_container_image"} <= names


@pytest.mark.parametrize("template", [STREAM, BACKFILL])
def test_every_parameter_has_the_api_fields_help_an_example_and_its_form(template):
    for entry in METADATA[template]["parameters"]:
        parameter = BY_NAME[entry["name"]]
        assert set(entry) <= PARAMETER_FIELDS
        assert entry["label"] and entry["groupName"] and entry["paramType"] in PARAM_TYPES
        assert entry["helpText"].endswith(f"For example: {parameter.example}")
        assert parameter.form.fullmatch(parameter.example), f"{parameter.name}'s example breaks its own form"
        assert entry["isOptional"] is not parameter.required
        assert entry["regexes"] == [f"^{parameter.form.pattern}$"]
        # RE2 (the launch form's checker) knows no look-arounds or back-references.
        assert not re.search(r"\(\?(<?[=!])|\\[1-9]", parameter.form.pattern)
        assert entry.get("defaultValue") == parameter.default


def test_required_parameters():
    assert {p.name for p in of_template(STREAM) if p.required} == {
        "input_subscription",
        "dead_letter_topic",
        "bigtable_instance",
        "bigtable_table",
    }
    assert {p.name for p in of_template(BACKFILL) if p.required} == {
        "input_file",
        "dead_letter_topic",
        "bigtable_instance",
        "bigtable_table",
    }


def test_streaming_fields_make_one_streaming_template_and_one_batch_template():
    stream, backfill = METADATA[STREAM], METADATA[BACKFILL]
    assert stream["streaming"] is True and stream["defaultStreamingMode"] == STREAMING_MODE == "EXACTLY_ONCE"
    assert stream["supportsAtLeastOnce"] is True and stream["supportsExactlyOnce"] is True
    assert backfill["streaming"] is False
    assert not {"supportsAtLeastOnce", "supportsExactlyOnce", "defaultStreamingMode"} & set(backfill)


def test_the_backfill_input_is_cloud_storage_only_on_dataflow():
    [regex] = next(p for p in METADATA[BACKFILL]["parameters"] if p["name"] == "input_file")["regexes"]
    assert re.fullmatch(regex, "gs://my-bucket/sales/*.csv")
    for local in ("data/sample.csv", "/tmp/x.csv", "s3://bucket/a.csv", "gs://my-bucket/"):
        assert not re.fullmatch(regex, local)


def test_every_parameter_is_a_pipeline_option():
    parser = argparse.ArgumentParser()
    TransactionsOptions._add_argparse_args(parser)
    ours = {action.dest for action in parser._actions} - {"help"}
    assert ours == {p.name for p in PARAMETERS if not p.beam_option}
    beam_parser = argparse.ArgumentParser()
    WorkerOptions._add_argparse_args(beam_parser)
    assert {p.name for p in PARAMETERS if p.beam_option} <= {action.dest for action in beam_parser._actions}


def test_launcher_style_arguments_parse():
    """The launcher passes each parameter as --name=value, plus its own options."""
    names = [p.name for p in PARAMETERS if not p.beam_option]
    launcher = [
        "--runner=DataflowRunner",
        "--project=my-project",
        "--region=us-central1",
        "--job_name=j",
        "--staging_location=gs://b/staging",
        "--temp_location=gs://b/temp",
        "--template_location=gs://b/t",
        "--sdk_container_image=us-docker.pkg.dev/p/r/i:v1",
    ]
    options = PipelineOptions([f"--{name}=x" for name in names] + launcher)
    assert all(getattr(options.view_as(TransactionsOptions), name) == "x" for name in names)
    assert options.view_as(WorkerOptions).sdk_container_image == "us-docker.pkg.dev/p/r/i:v1"
