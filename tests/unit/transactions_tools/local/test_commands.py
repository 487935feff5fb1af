"""The local job's and the producer's command lines, exactly: ``make up``, ``make demo``,
``make chaos`` and the latency benchmark start them from here."""

import sys

from transactions_tools.local import commands
from transactions_tools.provision import Resources


def test_the_local_streaming_jobs_command_line():
    resources = Resources(project="local-project", instance="local-instance", subscription="sub-1")
    assert commands.pipeline_command(resources, "--extra=1") == [
        sys.executable,
        "-m",
        "transactions_pipeline.launch",
        "--runner=DirectRunner",
        "--streaming",
        "--project=local-project",
        "--input_subscription=projects/local-project/subscriptions/sub-1",
        "--bigtable_instance=local-instance",
        "--bigtable_table=transacoes",
        "--dead_letter_topic=projects/local-project/topics/transacoes-dead-letter",
        "--rollups_table=transacoes_rollups",
        "--forgotten_table=transacoes_forgotten",
        "--extra=1",
    ]


def test_without_a_rollups_table_the_job_keeps_none():
    resources = Resources(project="local-project", instance="local-instance", rollups_table="")
    assert not any(arg.startswith("--rollups_table") for arg in commands.pipeline_command(resources))


def test_the_producers_command_line():
    assert commands.producer_command("projects/p/topics/t", "--rate", "5") == [
        sys.executable,
        "-m",
        "producer",
        "--topic",
        "projects/p/topics/t",
        "--rate",
        "5",
    ]


def test_a_runs_own_subscriptions_carry_its_suffix():
    assert commands.local_resources() == Resources(
        project="local-project",
        instance="local-instance",
        table="transacoes",
        subscription="transacoes-pipeline",
        dead_letter_subscription="transacoes-dead-letter-sub",
    )
    mine = commands.local_resources("demo-101500", table="other")
    assert (mine.subscription, mine.dead_letter_subscription, mine.table) == (
        "transacoes-pipeline-demo-101500",
        "transacoes-dead-letter-sub-demo-101500",
        "other",
    )
    assert (mine.topic, mine.dead_letter_topic) == ("transacoes", "transacoes-dead-letter")  # topics are shared
