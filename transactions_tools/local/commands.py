"""The command lines of the local streaming job and of the producer, built in one place.

``make up``, ``make demo`` and the latency benchmark all start the same job the same way: the
installed pipeline's entry point (``python -m transactions_pipeline.launch``, what
``template/main.py`` calls) on the local runner, so they work from any installed environment,
not only from a checkout.
"""

from __future__ import annotations

import sys

from transactions_tools import defaults
from transactions_tools.provision import Resources


def pipeline_command(resources: Resources, *extra_args: str) -> list[str]:
    """The streaming job reading ``resources.subscription``, on the Python direct runner."""
    return [
        sys.executable,
        "-m",
        "transactions_pipeline.launch",
        "--runner=DirectRunner",
        "--streaming",
        f"--project={resources.project}",
        f"--input_subscription={resources.subscription_path(resources.subscription)}",
        f"--bigtable_instance={resources.instance}",
        f"--bigtable_table={resources.table}",
        f"--dead_letter_topic={resources.topic_path(resources.dead_letter_topic)}",
        *([f"--rollups_table={resources.rollups_table}"] if resources.rollups_table else []),
        f"--forgotten_table={resources.forgotten_table}",
        *extra_args,
    ]


def producer_command(topic: str, *extra_args: str) -> list[str]:
    """``python -m producer --topic <topic> ...``."""
    return [sys.executable, "-m", "producer", "--topic", topic, *extra_args]


def local_resources(suffix: str = "", table: str = defaults.TABLE) -> Resources:
    """The local stack's resources; a ``suffix`` gives a run subscriptions of its own, so that
    it sees only what is published after it starts, on emulators that others use too."""
    tail = f"-{suffix}" if suffix else ""
    return Resources(
        project=defaults.PROJECT,
        instance=defaults.INSTANCE,
        table=table,
        subscription=defaults.SUBSCRIPTION + tail,
        dead_letter_subscription=defaults.DEAD_LETTER_SUBSCRIPTION + tail,
    )
