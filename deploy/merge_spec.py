"""Finish the Flex Template spec that `gcloud dataflow flex-template build --print-only` prints.

gcloud drops ``streaming``, ``supportsAtLeastOnce``, ``supportsExactlyOnce`` and
``defaultStreamingMode`` from the metadata it writes; this puts them back from metadata.json,
and sets ``defaultEnvironment.sdkContainerImage`` to the template image so that a job launched
from the Console form with only the required parameters runs its workers on that same image.
Standard library only: it runs in Cloud Build's cloud-sdk image.

    python3 deploy/merge_spec.py SPEC_IN METADATA IMAGE SPEC_OUT
"""

import json
import sys

STREAMING_FIELDS = ("streaming", "supportsAtLeastOnce", "supportsExactlyOnce", "defaultStreamingMode")


def merge(spec: dict, metadata: dict, image: str) -> dict:
    merged = json.loads(json.dumps(spec))
    target = merged.setdefault("metadata", {})
    for field in STREAMING_FIELDS:
        if field in metadata:
            target[field] = metadata[field]
    merged.setdefault("defaultEnvironment", {})["sdkContainerImage"] = image
    if merged.get("image") and merged["image"] != image:
        raise SystemExit(f"error: the spec's image {merged['image']} is not {image}")
    return merged


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    spec_in, metadata_path, image, spec_out = argv
    with open(spec_in) as handle:
        text = handle.read()
    spec = json.loads(text[text.index("{") :])  # tolerate lines gcloud prints before the JSON
    with open(metadata_path) as handle:
        metadata = json.load(handle)
    with open(spec_out, "w") as handle:
        json.dump(merge(spec, metadata, image), handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
