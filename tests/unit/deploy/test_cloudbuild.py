"""``cloudbuild.yaml`` run as Cloud Build would run it, with and without a release tag.

No Cloud Build here, so every step (except the unit tests, which this suite is) runs in order under
bash with ``docker``, ``gcloud`` and ``python3`` stubbed: each stub records its command line. The
substitutions are resolved as Cloud Build resolves them (``dynamic_substitutions``: a default may
use another, ``$$`` is a literal ``$``; ``TAG_NAME`` is empty for a build that no tag triggered,
https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values). What must hold:
a release tag moves the ``latest`` pointers (the image tag and ``templates/*-latest.json``); a build
of a dev commit, like ``deploy/smoke``'s, publishes its own version and leaves them alone.
"""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BUILD = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
BUILDERS = {"gcr.io/cloud-builders/docker": "docker"}
"""Steps without an entrypoint: the builder image's own command."""
STUB = '#!/bin/sh\necho "$(basename "$0") $*" >> "$COMMANDS"\nfor last; do :; done\n'


def substituted(text: str, values: dict[str, str]) -> str:
    text = text.replace("$$", "\0")
    for _ in range(5):  # a default may use another substitution (dynamic_substitutions)
        text = re.sub(r"\$\{([A-Z_]+)\}|\$([A-Z_]+)", lambda m: values.get(m.group(1) or m.group(2), m.group(0)), text)
    return text.replace("\0", "$")


def run_build(tmp_path: Path, tag: str, version: str) -> list[str]:
    """Every command the build's steps ran, in order."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("docker", "gcloud"):
        (stubs / name).write_text(STUB)
    (stubs / "python3").write_text(STUB + 'touch "$last"\n')  # merge_spec writes its last argument
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    commands = tmp_path / "commands.log"
    values = {**BUILD["substitutions"], "PROJECT_ID": "my-project", "TAG_NAME": tag, "_VERSION": version}
    values = {name: substituted(value, values) for name, value in values.items()}
    for step in BUILD["steps"]:
        if step["id"] == "unit-tests":
            continue
        entrypoint = step.get("entrypoint") or BUILDERS[step["name"]]
        argv = [entrypoint, *(substituted(arg, values) for arg in step["args"])]
        if entrypoint != "bash":
            argv = ["bash", "-c", " ".join(f"'{arg}'" for arg in argv)]
        done = subprocess.run(
            argv,
            cwd=tmp_path,
            env={"PATH": f"{stubs}:/usr/bin:/bin", "COMMANDS": str(commands)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"step {step['id']}: {done.stderr}"
    return commands.read_text().splitlines()


IMAGE = "us-central1-docker.pkg.dev/my-project/dataflow/transacoes-template"
BUCKET = "gs://my-project-dataflow-templates/templates"


def test_a_release_tag_moves_the_latest_pointers(tmp_path):
    commands = run_build(tmp_path, tag="v1.2.3", version="v1.2.3")
    assert f"docker push {IMAGE}:v1.2.3" in commands
    assert f"gcloud artifacts docker tags add {IMAGE}:v1.2.3 {IMAGE}:latest" in commands
    for name in ("transacoes-stream", "transacoes-backfill"):
        assert f"gcloud storage cp {name}.json {BUCKET}/{name}-v1.2.3.json" in commands
        assert f"gcloud storage cp {BUCKET}/{name}-v1.2.3.json {BUCKET}/{name}-latest.json" in commands


def test_a_build_without_a_tag_leaves_the_latest_pointers_alone(tmp_path):
    commands = run_build(tmp_path, tag="", version="dev-3f2a1b0")
    assert f"docker push {IMAGE}:dev-3f2a1b0" in commands
    assert f"gcloud storage cp transacoes-stream.json {BUCKET}/transacoes-stream-dev-3f2a1b0.json" in commands
    writes_latest = [c for c in commands if "latest" in c and not c.startswith(("docker pull", "docker build"))]
    assert writes_latest == []
    [build] = [c for c in commands if c.startswith("docker build") and f"{IMAGE}:" in c]
    tags = re.findall(r"--tag=(\S+)", build)
    assert tags == [f"{IMAGE}:dev-3f2a1b0"]  # the cache is read from :latest, never written


@pytest.mark.parametrize("step", [s["id"] for s in BUILD["steps"] if "\n" in s["args"][-1]])
def test_every_script_step_stops_at_its_first_failure(step):
    [script] = [s["args"][-1] for s in BUILD["steps"] if s["id"] == step]
    assert script.lstrip().startswith("set -euo pipefail")
