"""Flex Template entry point: parse the parameters, check them, build and run the pipeline.

The Dataflow launcher runs this file (``FLEX_TEMPLATE_PYTHON_PY_FILE``) with the template's
parameters as ``--name=value``; locally, run it with ``--runner=DirectRunner``. With
``--input_subscription`` the job streams; with ``--input_file`` it is a batch backfill.
Everything else lives in the installed ``template`` package.
"""

from __future__ import annotations

import logging
import sys

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from template.options import ConfigError, resolve_config
from template.pipeline import run
from template.preflight import check_bigtable, check_input_files


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = PipelineOptions(argv)
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
