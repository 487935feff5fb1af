"""``cloudbuild.yaml``'s steps run on this machine the way Cloud Build runs them.

Cloud Build runs each step's entrypoint in the step's image with the substitutions resolved
(``dynamic_substitutions``: a default may use another, ``$$`` is a literal ``$``; ``TAG_NAME`` is
empty for a build that no tag triggered,
https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values), the source in
the working directory, and each named volume mounted at its ``path`` in every step that names it
(https://cloud.google.com/build/docs/configuring-builds/pass-data-between-steps). Here a step's
image is stood in for: a volume is a folder of the test's, and a path inside an image (the
cloud-sdk image's gcloud installation) is a folder the caller provides. ``tests/unit/deploy/
test_cloudbuild.py`` runs the docker and gcloud steps with those tools stubbed;
``tests/integration/test_cloudbuild_steps.py`` runs the Python steps for real.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
BUILD: dict[str, Any] = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
STEPS: dict[str, dict[str, Any]] = {step["id"]: step for step in BUILD["steps"]}
BUILDERS = {"gcr.io/cloud-builders/docker": "docker"}
"""Steps without an entrypoint: the builder image's own command."""
IMAGE_SDK = "/usr/lib/google-cloud-sdk"
"""Where the cloud-sdk image has gcloud: it installs the ``google-cloud-cli`` Debian package
(GoogleCloudPlatform/cloud-sdk-docker, ``debian_slim/Dockerfile``), whose root this is."""


def substituted(text: str, values: Mapping[str, str]) -> str:
    text = text.replace("$$", "\0")
    for _ in range(5):  # a default may use another substitution (dynamic_substitutions)
        text = re.sub(r"\$\{([A-Z_]+)\}|\$([A-Z_]+)", lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)
    return text.replace("\0", "$")


def substitutions(tag: str, version: str) -> dict[str, str]:
    """Every substitution's value for a build of ``version``, triggered by ``tag`` (or none)."""
    values = {**BUILD["substitutions"], "PROJECT_ID": "my-project", "TAG_NAME": tag, "_VERSION": version}
    return {name: substituted(value, values) for name, value in values.items()}


def kind(step: Mapping[str, Any]) -> str:
    """``python``, ``docker`` or ``cloud-sdk``: what the step's image is."""
    image = substituted(step["name"], substitutions("", "v"))
    if re.fullmatch(r"python:3\.11[\w.-]*", image):
        return "python"
    if image in BUILDERS:
        return "docker"
    if image.startswith("gcr.io/google.com/cloudsdktool/cloud-sdk:"):
        return "cloud-sdk"
    raise ValueError(f"step {step['id']}: no stand-in for the image {image}")


def script(step: Mapping[str, Any]) -> str:
    """A bash step's script, as written."""
    assert step.get("entrypoint") == "bash" and step["args"][0] == "-c", step["id"]
    return str(step["args"][-1])


def waits_for(step: Mapping[str, Any]) -> Iterator[str]:
    """The ids of the steps ``step`` waits for, transitively (no ``waitFor``: all steps before it)."""
    ids = list(STEPS)
    direct = step.get("waitFor", ids[: ids.index(step["id"])])
    for other in direct:
        if other != "-":
            yield from waits_for(STEPS[other])
            yield other


def mounted(text: str, paths: Mapping[str, str]) -> str:
    """``text`` with each absolute path of ``paths`` (a volume's, or one inside the image) replaced
    by the folder that stands in for it, only where it is a whole path (``/cloud-sdk``, not the
    end of ``/usr/lib/google-cloud-sdk``)."""
    for path in sorted(paths, key=len, reverse=True):
        text = re.sub(rf"(?<![\w./-]){re.escape(path)}(?=/|\s|$|\")", paths[path], text)
    return text


def volumes(step: Mapping[str, Any], root: Path) -> dict[str, str]:
    """Each volume of ``step`` -> its folder under ``root`` (one folder per volume name)."""
    found = {}
    for volume in step.get("volumes", []):
        folder = root / volume["name"]
        folder.mkdir(parents=True, exist_ok=True)
        found[volume["path"]] = str(folder)
    return found


def argv(step: Mapping[str, Any], values: Mapping[str, str], paths: Mapping[str, str]) -> list[str]:
    """The command a step runs, substituted and with its paths mounted."""
    entrypoint = step.get("entrypoint") or BUILDERS[step["name"]]
    arguments = [mounted(substituted(arg, values), paths) for arg in step["args"]]
    if entrypoint == "bash":
        return ["bash", *arguments]
    return ["bash", "-c", " ".join(f"'{arg}'" for arg in [entrypoint, *arguments])]


def run(
    step: Mapping[str, Any],
    values: Mapping[str, str],
    paths: Mapping[str, str],
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    step_env = dict(item.split("=", 1) for item in step.get("env", []))
    return subprocess.run(
        argv(step, values, paths),
        cwd=cwd,
        env={**env, **{key: mounted(value, paths) for key, value in step_env.items()}},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
