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
import sys

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from transactions_pipeline.options import ConfigError, TransactionsOptions, resolve_config
from transactions_pipeline.pipeline import run
from transactions_pipeline.preflight import check_bigtable, check_input_files


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
        check_input_files(config)
        check_bigtable(config)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = run(options, config)
    if options.view_as(StandardOptions).runner != "DataflowRunner":
        result.wait_until_finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
