"""The job as Dataflow receives it: Beam's own ``DataflowRunner`` builds it, offline.

``--dry_run=True --no_auth`` makes the runner translate the pipeline into the portable proto and
the Dataflow job request exactly as a launch would, then stop before contacting the service. The
test reads what the service would read: step names, the Pub/Sub read, the workers' container
image and the job type.
"""

from typing import TYPE_CHECKING, Protocol, cast

import pytest
from apache_beam.options.pipeline_options import DebugOptions, PipelineOptions, WorkerOptions
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2, standard_window_fns_pb2

from transactions import attributes
from transactions_pipeline import launch, pipeline, rollups
from transactions_pipeline.options import ConfigError, resolve_config
from transactions_pipeline.parameters import TEMPLATE_IMAGE_VARIABLE

if TYPE_CHECKING:
    from apache_beam.runners.dataflow.internal.apiclient import Job

IMAGE = "us-central1-docker.pkg.dev/my-project/dataflow/transacoes-template:v1.0.0"
SUBSCRIPTION = "projects/my-project/subscriptions/transacoes-pipeline"
STEPS = {
    pipeline.STEP_READ,
    pipeline.STEP_PARSE,
    pipeline.STEP_WRITE,
    pipeline.STEP_COLLECT_DEAD_LETTERS,
    pipeline.STEP_PUBLISH_DEAD_LETTERS,
}
ROLLUP_STEPS = {
    rollups.STEP_PARTIALS,
    rollups.STEP_CATEGORY_MINUTES,
    rollups.STEP_USER_DAYS,
    rollups.STEP_COLLECT,
    rollups.STEP_WRITE,
    rollups.STEP_PUBLISH_DEAD_LETTERS,
}
JOB_TYPE_BATCH, JOB_TYPE_STREAMING = 1, 2  # the Dataflow API's Job.type


def dataflow_args(*extra: str, image: str | None = IMAGE) -> list[str]:
    return [
        "--runner=DataflowRunner",
        "--dry_run=True",
        "--no_auth",
        "--project=my-project",
        "--region=us-central1",
        "--job_name=contract",
        "--temp_location=gs://my-bucket/temp",
        "--staging_location=gs://my-bucket/staging",
        "--sdk_location=container",
        *([f"--sdk_container_image={image}"] if image else []),
        "--dead_letter_topic=projects/my-project/topics/transacoes-dead-letter",
        "--bigtable_instance=transacoes-prod",
        "--bigtable_table=transacoes",
        *extra,
    ]


class DryRunResult(Protocol):
    """What ``DataflowRunner`` returns for ``--dry_run``: a plain ``PipelineResult`` it sets ``job``
    on (the request it built and did not send), an attribute ``PipelineResult`` does not declare."""

    job: "Job"


def dry_run_job(options: PipelineOptions) -> "Job":
    return cast(DryRunResult, pipeline.run(options, resolve_config(options))).job


def dry_run(args: list[str]):
    options = PipelineOptions(args)
    job = dry_run_job(options)
    return job, options


def top_level_steps(proto) -> set[str]:
    return {
        proto.components.transforms[child].unique_name
        for root in proto.root_transform_ids
        for child in proto.components.transforms[root].subtransforms
    }


def worker_images(proto) -> set[str]:
    return {
        beam_runner_api_pb2.DockerPayload.FromString(environment.payload).container_image
        for environment in proto.components.environments.values()
    }


def test_the_stream_as_dataflow_receives_it():
    job, _ = dry_run(dataflow_args(f"--input_subscription={SUBSCRIPTION}"))
    proto = job.proto_pipeline
    assert top_level_steps(proto) == STEPS
    [read] = [t for t in proto.components.transforms.values() if t.spec.urn == common_urns.composites.PUBSUB_READ.urn]
    payload = beam_runner_api_pb2.PubSubReadPayload.FromString(read.spec.payload)
    assert read.unique_name.startswith(pipeline.STEP_READ + "/")
    assert (payload.subscription, payload.id_attribute, payload.with_attributes) == (
        SUBSCRIPTION,
        attributes.TRANSACTION_ID,
        True,
    )
    assert payload.timestamp_attribute == "", "publish time stamps elements: a bad attribute cannot stall the read"
    assert worker_images(proto) == {IMAGE}
    assert job.proto.type == JOB_TYPE_STREAMING
    assert "enable_streaming_engine" in job.options.view_as(DebugOptions).experiments


def test_the_backfill_as_dataflow_receives_it():
    job, _ = dry_run(dataflow_args("--input_file=gs://my-bucket/sales/*.csv"))
    assert top_level_steps(job.proto_pipeline) == STEPS
    assert worker_images(job.proto_pipeline) == {IMAGE}
    assert job.proto.type == JOB_TYPE_BATCH


def test_a_backfill_with_rollups_groups_shards_of_windows_and_fires_no_trigger():
    """A batch job is never updated, so its rollups take their own shape: one GroupByKey of
    shards for both rollups, no Window step and no Flatten (``rollups.py``, ``docs/rollups.md``)."""
    job, _ = dry_run(dataflow_args("--input_file=gs://my-bucket/sales/*.csv", "--rollups_table=transacoes_rollups"))
    proto = job.proto_pipeline
    assert top_level_steps(proto) == STEPS | set(rollups.BACKFILL_STEPS)
    names = {t.unique_name for t in proto.components.transforms.values()}
    assert not any("/Window" in name for name in names)
    [shards] = [t for t in proto.components.transforms.values() if t.unique_name == rollups.STEP_BACKFILL_SHARDS]
    assert shards.spec.urn == common_urns.primitives.GROUP_BY_KEY.urn
    [sends] = shards.inputs.values()
    kv = proto.components.coders[proto.components.pcollections[sends].coder_id]
    key, value = (proto.components.coders[component].spec.urn for component in kv.component_coder_ids)
    assert (kv.spec.urn, key, value) == (
        common_urns.coders.KV.urn,
        common_urns.coders.VARINT.urn,
        common_urns.coders.BYTES.urn,
    ), "shard number and encoded windows: Beam's own coders, nothing pickled per element"
    assert job.proto.type == JOB_TYPE_BATCH


def windowing_of(proto, transform_name: str):
    [transform] = [t for t in proto.components.transforms.values() if t.unique_name == transform_name]
    [output] = transform.outputs.values()
    return proto.components.windowing_strategies[proto.components.pcollections[output].windowing_strategy_id]


def test_rollups_only_add_steps_and_are_windowed_as_documented():
    job, _ = dry_run(
        dataflow_args(
            f"--input_subscription={SUBSCRIPTION}",
            "--rollups_table=transacoes_rollups",
            "--rollup_allowed_lateness=30m",
        )
    )
    proto = job.proto_pipeline
    assert top_level_steps(proto) == STEPS | ROLLUP_STEPS  # the transaction steps unchanged: --update maps them
    for step, size_seconds in ((rollups.STEP_CATEGORY_MINUTES, 60), (rollups.STEP_USER_DAYS, 86_400)):
        strategy = windowing_of(proto, f"{step}/Window")
        fixed = standard_window_fns_pb2.FixedWindowsPayload.FromString(strategy.window_fn.payload)
        assert fixed.size.seconds == size_seconds
        assert strategy.accumulation_mode == beam_runner_api_pb2.AccumulationMode.ACCUMULATING
        assert strategy.allowed_lateness == (30 * 60 + rollups.LATENESS_MARGIN_SECONDS) * 1000
        after_watermark = strategy.trigger.after_end_of_window
        early = after_watermark.early_firings.after_processing_time  # repeated, as the model says
        assert early.timestamp_transforms[0].delay.delay_millis == rollups.EARLY_FIRING_SECONDS * 1000
        assert after_watermark.late_firings.element_count.element_count == 1


def test_a_local_path_never_reaches_dataflow():
    with pytest.raises(ConfigError, match=r"^--input_file: 'data/sample.csv' is not gs://"):
        resolve_config(PipelineOptions(dataflow_args("--input_file=data/sample.csv")))


def test_without_sdk_container_image_the_workers_get_the_image_the_template_image_names(monkeypatch):
    monkeypatch.setenv(TEMPLATE_IMAGE_VARIABLE, IMAGE)
    options = PipelineOptions(dataflow_args(f"--input_subscription={SUBSCRIPTION}", image=None))
    launch.choose_worker_image(options)
    assert options.view_as(WorkerOptions).sdk_container_image == IMAGE
    job = dry_run_job(options)
    assert worker_images(job.proto_pipeline) == {IMAGE}


def test_a_launch_that_would_put_the_workers_on_beams_stock_image_stops(monkeypatch):
    monkeypatch.delenv(TEMPLATE_IMAGE_VARIABLE, raising=False)
    with pytest.raises(ConfigError, match=r"^--sdk_container_image: missing"):
        launch.choose_worker_image(PipelineOptions(dataflow_args(image=None)))
    with pytest.raises(ConfigError, match=r"^--sdk_container_image: 'latest' is not"):
        launch.choose_worker_image(PipelineOptions(dataflow_args(image="latest")))
