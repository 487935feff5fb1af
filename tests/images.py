"""What the Dockerfiles put in their images, read from the Dockerfiles themselves, and the images'
Python environments rebuilt without Docker: a clean virtual environment from the image's lock
file alone, then exactly the files the Dockerfile copies, installed the way it installs them."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = shutil.which("python3.11") or sys.executable


def copied_sources(dockerfile: Path) -> list[str]:
    """The build-context paths a Dockerfile COPYs (not those copied from other stages)."""
    sources = []
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def project_install_flags(dockerfile: Path) -> list[str]:
    """The flags of the Dockerfile's ``pip install ... .`` of the project (not of a lock file)."""
    match = re.search(r"pip install ((?:--[-a-z]+ )+)\.(?:\s|$)", dockerfile.read_text())
    return [flag for flag in match.group(1).split() if flag != "--no-cache-dir"] if match else []


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def pip(python: Path, *args: str, timeout: float = 120) -> None:
    run([str(python), "-m", "pip", "--quiet", "--disable-pip-version-check", *args], timeout=timeout)


def locked_environment(lock: Path, venv: Path) -> Path:
    """A virtual environment of ``lock`` alone (``--require-hashes``, then ``pip check``), kept
    under ``venv`` until the lock changes; returns its python."""
    stamp = venv / "lock.sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if not stamp.exists() or stamp.read_text() != digest:
        shutil.rmtree(venv, ignore_errors=True)
        run([PYTHON, "-m", "venv", str(venv)])
        pip(python, "install", "--require-hashes", "-r", str(lock), timeout=900)
        pip(python, "check")
        stamp.write_text(digest)
    return python


def copy_sources(dockerfile: Path, workdir: Path) -> None:
    """Copy into ``workdir`` (the image's WORKDIR) what the Dockerfile copies from the context."""
    for source in copied_sources(dockerfile):
        path = ROOT / source
        target = workdir / source
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copy2(path, target)
