"""Malformed parameters fail at launch with the parameter's name and the expected form."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from transactions_pipeline.options import (
    MAX_REFRESH_SECONDS,
    ConfigError,
    JobConfig,
    choose_local_runner,
    resolve_config,
)

GOOD = [
    "--project=local-project",
    "--input_subscription=projects/local-project/subscriptions/transacoes-pipeline",
    "--bigtable_instance=local-instance",
    "--bigtable_table=transacoes",
    "--dead_letter_topic=projects/local-project/topics/transacoes-dead-letter",
]


def config_of(*args: str) -> JobConfig:
    return resolve_config(PipelineOptions(list(args)))


def test_good_parameters_and_defaults():
    assert config_of(*GOOD) == JobConfig(
        input_subscription="projects/local-project/subscriptions/transacoes-pipeline",
        dead_letter_topic="projects/local-project/topics/transacoes-dead-letter",
        bigtable_project="local-project",
        bigtable_instance="local-instance",
        bigtable_table="transacoes",
        column_family="dados",
        forgotten_table="transacoes_forgotten",
        forgotten_refresh_seconds=60,
    )


def test_the_forgotten_list_can_be_left_out_and_its_refresh_is_bounded():
    assert config_of(*GOOD, "--forgotten_table=").forgotten_table is None
    assert config_of(*GOOD, "--forgotten_refresh=5m").forgotten_refresh_seconds == 300
    for bad in ("0", "0s", "3601s", "61m", "2h", "1d", "60"):
        with pytest.raises(ConfigError, match=f"--forgotten_refresh: '{bad}' is not from 1s to 1h"):
            config_of(*GOOD, f"--forgotten_refresh={bad}")


def test_the_refresh_form_is_exactly_one_second_to_one_hour():
    """The form (which the Dataflow launch form checks too, in RE2) states the range the docs give."""
    from transactions import resource_names

    accepted = {
        seconds
        for unit, size, most in (("s", 1, 9999), ("m", 60, 999), ("h", 3600, 99))
        for count in range(1, most + 1)
        if resource_names.is_valid("refresh", f"{count}{unit}")
        for seconds in [count * size]
    }
    assert min(accepted) == 1 and max(accepted) == MAX_REFRESH_SECONDS
    assert all(resource_names.is_valid("refresh", f"{s}s") for s in range(1, MAX_REFRESH_SECONDS + 1))


def test_bigtable_project_overrides_the_job_project():
    assert config_of(*GOOD, "--bigtable_project=other-project").bigtable_project == "other-project"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "--input_subscription=transacoes",
            "--input_subscription: 'transacoes' is not projects/<project>/subscriptions/<subscription>",
        ),
        ("--input_subscription=projects/local-project/topics/x", "--input_subscription:"),
        (
            "--dead_letter_topic=projects/p/topics/dl",
            "--dead_letter_topic: 'projects/p/topics/dl' is not projects/<project>/topics/<topic>",
        ),
        ("--bigtable_instance=Bad_Instance", "--bigtable_instance: 'Bad_Instance' is not an instance id"),
        ("--bigtable_table=has space", "--bigtable_table: 'has space' is not a table id"),
        ("--column_family=a:b", "--column_family: 'a:b' is not a column family name"),
        ("--bigtable_project=X", "--bigtable_project: 'X' is not a project id"),
    ],
)
def test_malformed_values_name_the_parameter(override, message):
    name = override.split("=")[0]
    args = [a for a in GOOD if not a.startswith(name + "=")] + [override]
    with pytest.raises(ConfigError) as caught:
        config_of(*args)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("name", ["--bigtable_instance", "--bigtable_table", "--dead_letter_topic"])
def test_missing_required_parameter(name):
    with pytest.raises(ConfigError, match=rf"^{name}: missing"):
        config_of(*[a for a in GOOD if not a.startswith(name + "=")])


BACKFILL = [a for a in GOOD if not a.startswith("--input_subscription=")]


@pytest.mark.parametrize(
    ("inputs", "got"),
    [
        ([], "neither"),
        (
            ["--input_subscription=projects/local-project/subscriptions/abc", "--input_file=gs://my-bucket/a.csv"],
            "both",
        ),
    ],
)
def test_exactly_one_input(inputs, got):
    with pytest.raises(ConfigError) as caught:
        config_of(*BACKFILL, *inputs)
    assert str(caught.value) == (
        "--input_subscription / --input_file: set exactly one of them (a subscription streams; a file backfills), "
        f"got {got}"
    )


@pytest.mark.parametrize(
    "path", ["gs://my-bucket/sales/*.csv", "gs://my-bucket/2024/sales.csv", "data/sample.csv", "/tmp/x/*.csv"]
)
def test_a_file_makes_a_batch_backfill(path):
    config = config_of(*BACKFILL, f"--input_file={path}")
    assert (config.input_file, config.input_subscription, config.streaming) == (path, None, False)
    assert config_of(*GOOD).streaming is True


@pytest.mark.parametrize(
    "path", ["s3://bucket/a.csv", "https://example.com/a.csv", "gs://Bad_Bucket/a.csv", "gs://my-bucket/", ""]
)
def test_malformed_input_file(path):
    with pytest.raises(ConfigError, match=r"^--input_file: "):
        config_of(*BACKFILL, f"--input_file={path}")


def test_missing_project_for_bigtable():
    args = [a for a in GOOD if not a.startswith("--project=")]
    with pytest.raises(ConfigError, match=r"^--bigtable_project: missing"):
        config_of(*args)


@pytest.mark.parametrize(
    ("args", "runner"),
    [
        (["--runner=DirectRunner", "--streaming"], "BundleBasedDirectRunner"),
        (["--streaming"], "BundleBasedDirectRunner"),
        (["--runner=DirectRunner"], "FnApiRunner"),
        (["--runner=DataflowRunner", "--streaming"], "DataflowRunner"),
    ],
)
def test_local_runner_is_named_so_nothing_is_downloaded(args, runner):
    options = PipelineOptions(args)
    choose_local_runner(options)
    assert options.view_as(StandardOptions).runner == runner


def test_the_job_gets_the_streaming_direct_runner_even_without_streaming_flag(monkeypatch):
    """`main.py --runner=DirectRunner` (no --streaming) must not end as a batch run that reads nothing."""
    from transactions_pipeline import pipeline

    monkeypatch.setattr(pipeline, "build_pipeline", lambda p, config: None)
    ran: list[PipelineOptions] = []
    monkeypatch.setattr(pipeline.beam.Pipeline, "run", lambda self: ran.append(self.options))
    pipeline.run(PipelineOptions(["--runner=DirectRunner"]), config=config_of(*GOOD))
    [options] = ran
    assert options.view_as(StandardOptions).streaming is True
    assert options.view_as(StandardOptions).runner == "BundleBasedDirectRunner"


def test_a_backfill_is_a_batch_job_on_the_fn_api_runner_even_with_streaming_flag(monkeypatch):
    from transactions_pipeline import pipeline

    monkeypatch.setattr(pipeline, "build_pipeline", lambda p, config: None)
    ran: list[PipelineOptions] = []
    monkeypatch.setattr(pipeline.beam.Pipeline, "run", lambda self: ran.append(self.options))
    config = config_of(*BACKFILL, "--input_file=data/sample_transactions.csv")
    pipeline.run(PipelineOptions(["--runner=DirectRunner", "--streaming"]), config=config)
    [options] = ran
    assert options.view_as(StandardOptions).streaming is False
    assert options.view_as(StandardOptions).runner == "FnApiRunner"
