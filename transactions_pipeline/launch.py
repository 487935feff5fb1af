"""The Flex Template's entry point: parse the parameters, check them, build and run the job.

The Dataflow launcher runs ``template/main.py`` (``FLEX_TEMPLATE_PYTHON_PY_FILE``) with the
template's parameters as ``--name=value``; locally, run it with ``--runner=DirectRunner``. With
``--input_subscription`` the job streams; with ``--input_file`` it is a batch backfill. A bad
parameter, or a resource the job cannot use, ends the launch here with exit code 2 and one
line naming the parameter, before any job starts.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from apache_beam.options.pipeline_options import PipelineOptions, WorkerOptions
from google.auth.exceptions import GoogleAuthError

from transactions.cli_errors import credentials_problem
from transactions.excerpt import excerpt
from transactions_pipeline.options import ConfigError, TransactionsOptions, resolve_config, runs_locally
from transactions_pipeline.parameters import BY_NAME, TEMPLATE_IMAGE_VARIABLE
from transactions_pipeline.pipeline import run
from transactions_pipeline.preflight import check_all


def print_help() -> None:
    """The template's own parameters (Beam's help would list only ``-h``)."""
    parser = argparse.ArgumentParser(
        prog="template/main.py",
        description=__doc__.split("\n")[0],
        epilog="Beam's pipeline options (--runner, --project, --region, ...) are accepted as well.",
    )
    TransactionsOptions._add_argparse_args(parser)
    parser.print_help()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "-h" in args or "--help" in args:
        print_help()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = PipelineOptions(args)
    try:
        config = resolve_config(options)
        if not runs_locally(options):
            choose_worker_image(options)
        check_all(config)
        result = run(options, config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except GoogleAuthError as error:  # no ADC where the launch runs: one line, not a traceback
        print(f"error: {credentials_problem(error)}", file=sys.stderr)
        return 2
    if runs_locally(options):
        result.wait_until_finish()
    return 0


def choose_worker_image(options: PipelineOptions) -> None:
    """The workers run the template image, however the job was launched.

    The launch form and the documented commands pass ``sdk_container_image``; if nothing did,
    the image's own name (set in it by its build) is used. Without either, the workers would
    start on Beam's stock image, which lacks the pipeline, and every step would fail to load:
    the launch stops here instead.
    """
    worker = options.view_as(WorkerOptions)
    worker.sdk_container_image = worker.sdk_container_image or os.environ.get(TEMPLATE_IMAGE_VARIABLE)
    parameter = BY_NAME["sdk_container_image"]
    if not worker.sdk_container_image:
        raise ConfigError(
            f"--sdk_container_image: missing, and {TEMPLATE_IMAGE_VARIABLE} is not set in this image; "
            f"the workers would run Beam's stock image, without the pipeline (expected {parameter.expected})"
        )
    if not parameter.form.fullmatch(worker.sdk_container_image):
        raise ConfigError(f"--sdk_container_image: {excerpt(worker.sdk_container_image)} is not {parameter.expected}")


if __name__ == "__main__":
    sys.exit(main())
