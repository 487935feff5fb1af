"""Finish a Flex Template spec from what ``gcloud dataflow flex-template build --print-only`` prints.

gcloud prints the spec as a YAML block scalar with the JSON inside (``|-`` then the indented
JSON); with ``--format=json`` or ``--format='value(.)'`` it prints a JSON string or the bare JSON
instead, and all three are read here. Then:

- gcloud keeps only the metadata's name, description and parameters; ``streaming``,
  ``supportsAtLeastOnce``, ``supportsExactlyOnce`` and ``defaultStreamingMode`` are put back from
  the metadata file, since the Console draws its streaming-mode selector from them;
- the workers run the template image however the job is launched: the ``sdk_container_image``
  parameter's default and ``defaultEnvironment.sdkContainerImage`` are set to the image just built;
- the autoscaler has a ceiling, ``defaultEnvironment.maxWorkers`` (``MAX_WORKERS``), unless the
  launch gives ``--max-workers``;
- a streaming template also gets ``defaultEnvironment.enableStreamingEngine`` (Python streaming on
  Dataflow needs it). It sets no streaming mode: the metadata's ``defaultStreamingMode`` is the
  default, and a launch's ``--additional-experiments=streaming_mode_*`` the one override
  (``docs/deploy.md``, "Streaming mode and Streaming Engine").

Field names are those of gcloud's Dataflow v1b3 messages (``FlexTemplateRuntimeEnvironment``).
Standard library only: it runs in Cloud Build's cloud-sdk image.

    python3 deploy/merge_spec.py SPEC_IN METADATA IMAGE SPEC_OUT
"""

import json
import sys
import textwrap

STREAMING_FIELDS = ("streaming", "supportsAtLeastOnce", "supportsExactlyOnce", "defaultStreamingMode")
MAX_WORKERS = 10
"""The autoscaler's default ceiling for both templates (``defaultEnvironment.maxWorkers``): enough
for about 100,000 rows/s by the sizing in docs/performance.md, and a bound on what a runaway backlog can cost.
A launch's ``--max-workers`` overrides it."""
IMAGE_PARAMETER = "sdk_container_image"


def read_gcloud_spec(text: str) -> dict:
    """The spec JSON from gcloud's output, whichever of its three forms it came in."""
    text = text.strip()
    if text.startswith("|"):  # a YAML block scalar: drop the indicator line, dedent the rest
        text = textwrap.dedent(text.split("\n", 1)[1])
    value = json.loads(text)
    return json.loads(value) if isinstance(value, str) else value


def merge(spec: dict, metadata: dict, image: str) -> dict:
    merged = json.loads(json.dumps(spec))
    if merged.get("image") != image:
        raise ValueError(f"the spec's image {merged.get('image')} is not {image}")
    target = merged.setdefault("metadata", {})
    if [p["name"] for p in target.get("parameters", [])] != [p["name"] for p in metadata["parameters"]]:
        raise ValueError("gcloud's spec does not carry the metadata file's parameters")
    for field in STREAMING_FIELDS:
        if field in metadata:
            target[field] = metadata[field]
    for parameter in target["parameters"]:
        if parameter["name"] == IMAGE_PARAMETER:
            parameter["defaultValue"] = image
    environment = merged.setdefault("defaultEnvironment", {})
    environment["sdkContainerImage"] = image
    environment["maxWorkers"] = MAX_WORKERS
    if metadata.get("streaming"):
        environment["enableStreamingEngine"] = True
    return merged


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    spec_in, metadata_path, image, spec_out = argv
    with open(spec_in) as handle:
        spec = read_gcloud_spec(handle.read())
    with open(metadata_path) as handle:
        metadata = json.load(handle)
    try:
        merged = merge(spec, metadata, image)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    with open(spec_out, "w") as handle:
        json.dump(merged, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
