"""``transacoes-template-metadata``: write the two templates' metadata files from the parameter table.

``metadata.json`` (``transacoes-stream``) and ``metadata-backfill.json`` (``transacoes-backfill``)
are what ``gcloud dataflow flex-template build --metadata-file`` reads and what the Console draws
its launch form from. They are generated from :mod:`transactions_pipeline.parameters`, never
edited by hand; ``--check`` fails when the committed files differ (``make test`` runs that).

    transacoes-template-metadata --write | --check
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from transactions_pipeline import parameters
from transactions_pipeline.parameters import BACKFILL, STREAM

FILES = {STREAM: "metadata.json", BACKFILL: "metadata-backfill.json"}
DESCRIPTIONS = {
    STREAM: (
        "Transactions: Pub/Sub to Bigtable (stream)",
        "Streams e-commerce transactions (message contract v1, JSON) from a Pub/Sub subscription into Bigtable, "
        "one row per transaction under user_id#reverse_timestamp#transaction_id so a user's latest transactions "
        "read first. Messages that cannot be written go to a dead-letter topic with the reason; nothing is dropped.",
    ),
    BACKFILL: (
        "Transactions: CSV files to Bigtable (backfill)",
        "Loads Kaggle-format sales CSV files from Cloud Storage into the same Bigtable table as the stream, as a "
        "batch job, through the same checks, row layout and dead letters. Re-running it rewrites the same cells.",
    ),
}


def metadata(template: str) -> dict:
    """The metadata of one template, as the Flex Template spec carries it."""
    name, description = DESCRIPTIONS[template]
    document: dict = {"name": name, "description": description}
    if template == STREAM:
        document |= {
            "streaming": True,
            "supportsAtLeastOnce": True,
            "supportsExactlyOnce": True,
            "defaultStreamingMode": parameters.STREAMING_MODE,
        }
    else:
        document["streaming"] = False
    document["parameters"] = [_parameter(p) for p in parameters.of_template(template)]
    return document


def _parameter(parameter: parameters.Parameter) -> dict:
    entry = {
        "name": parameter.name,
        "label": parameter.label,
        "helpText": parameter.help_text,
        "paramType": parameter.param_type,
        "isOptional": not parameter.required,
        "groupName": parameter.group,
        "regexes": [f"^{parameter.form.pattern}$"],
    }
    if parameter.default is not None:
        entry["defaultValue"] = parameter.default
    return entry


def rendered(template: str) -> str:
    return json.dumps(metadata(template), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="transacoes-template-metadata", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="write the files")
    action.add_argument("--check", action="store_true", help="exit 1 if a committed file differs")
    parser.add_argument("--root", type=Path, default=Path("."), help="where the files are (default: .)")
    args = parser.parse_args(argv)
    stale = []
    for template, file_name in FILES.items():
        path = args.root / file_name
        if args.write:
            path.write_text(rendered(template))
            print(f"wrote {path}")
        elif not path.exists() or path.read_text() != rendered(template):
            stale.append(str(path))
    if stale:
        print(f"error: {', '.join(stale)} differ from the parameter table; run make metadata", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
