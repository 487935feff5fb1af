"""Start and stop the real Pub/Sub and Bigtable emulators on free loopback ports.

Used by ``make test`` (through ``python -m transactions_tools.local.emulators run -- COMMAND``),
by the local stack (``make up``, ``make demo``), the benchmarks and the test suite's fixtures.
Emulators that the caller already points at (``PUBSUB_EMULATOR_HOST`` and
``BIGTABLE_EMULATOR_HOST`` set) are reused and left running; the ones started here are
stopped, with their whole process group, when the work is done.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from transactions_tools import defaults
from transactions_tools.local import processes

INSTALL_HINT = (
    "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), then: "
    "gcloud components install beta pubsub-emulator bigtable cbt"
)
STARTUP_TIMEOUT_SECONDS = 90.0


class StackError(RuntimeError):
    """Something the local stack needs is missing or did not start; the text says what to do."""


@dataclass
class Emulators:
    """Where the emulators listen, and the processes this module started (if any)."""

    pubsub_host: str
    bigtable_host: str
    project: str = defaults.PROJECT
    processes: list[subprocess.Popen] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        return {
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "BIGTABLE_EMULATOR_HOST": self.bigtable_host,
            "PUBSUB_PROJECT_ID": self.project,
        }


def find_sdk_root() -> Path:
    """The Cloud SDK's root, or :class:`StackError` saying how to install what is missing."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise StackError(f"the Google Cloud CLI (gcloud) is not on PATH; {INSTALL_HINT}")
    root = Path(gcloud).resolve().parent.parent
    if not (root / "platform").is_dir():
        found = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            check=False,
        )
        root = Path(found.stdout.strip() or root)
    missing = [
        component
        for component, folder in (("pubsub-emulator", "pubsub-emulator"), ("bigtable", "bigtable-emulator"))
        if not (root / "platform" / folder).is_dir()
    ]
    if missing:
        raise StackError(
            f"the Cloud CLI at {root} lacks {', '.join(missing)}; "
            "run: gcloud components install beta pubsub-emulator bigtable cbt"
        )
    if shutil.which("java") is None:
        raise StackError("the Pub/Sub emulator needs Java 8+ on PATH (apt-get install default-jre)")
    return root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(host: str) -> bool:
    address, port = host.rsplit(":", 1)
    with contextlib.suppress(OSError), socket.create_connection((address, int(port)), timeout=1):
        return True
    return False


def _wait_until_listening(host: str, process: subprocess.Popen, name: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if _listening(host):
            return
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise StackError(f"the {name} emulator exited with {process.returncode}:\n{tail}")
        time.sleep(0.2)
    raise StackError(
        f"the {name} emulator did not listen on {host} within {STARTUP_TIMEOUT_SECONDS:.0f}s; see {log_path}"
    )


def start(log_dir: Path, project: str = defaults.PROJECT) -> Emulators:
    """Start both emulators on free loopback ports and wait until they accept connections."""
    find_sdk_root()
    log_dir.mkdir(parents=True, exist_ok=True)
    emulators = Emulators(f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}", project)
    commands = {
        "Pub/Sub": (
            [
                "gcloud",
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port={emulators.pubsub_host}",
                f"--project={project}",
            ],
            log_dir / "pubsub-emulator.log",
            emulators.pubsub_host,
        ),
        "Bigtable": (
            ["gcloud", "beta", "emulators", "bigtable", "start", f"--host-port={emulators.bigtable_host}"],
            log_dir / "bigtable-emulator.log",
            emulators.bigtable_host,
        ),
    }
    try:
        for command, log_path, _ in commands.values():
            emulators.processes.append(processes.spawn(command, log_path))
        for process, (name, (_, log_path, host)) in zip(emulators.processes, commands.items(), strict=True):
            _wait_until_listening(host, process, name, log_path)
    except BaseException:
        stop(emulators)
        raise
    return emulators


def stop(emulators: Emulators) -> None:
    """Stop what :func:`start` started, with the processes gcloud started under it."""
    processes.stop(emulators.processes)
    emulators.processes.clear()


def from_environment() -> Emulators | None:
    """The emulators the caller points at, if both variables are set."""
    pubsub, bigtable = os.environ.get("PUBSUB_EMULATOR_HOST"), os.environ.get("BIGTABLE_EMULATOR_HOST")
    if pubsub and bigtable:
        return Emulators(pubsub, bigtable, os.environ.get("PUBSUB_PROJECT_ID", defaults.PROJECT))
    return None


@contextlib.contextmanager
def running(log_dir: Path, project: str = defaults.PROJECT) -> Iterator[Emulators]:
    """Reuse the emulators in the environment, or start (and afterwards stop) our own."""
    existing = from_environment()
    if existing is not None:
        for host in (existing.pubsub_host, existing.bigtable_host):
            if not _listening(host):
                raise StackError(
                    f"nothing listens on {host}, which the environment points at; "
                    "unset PUBSUB_EMULATOR_HOST/BIGTABLE_EMULATOR_HOST to start fresh ones"
                )
        yield existing
        return
    emulators = start(log_dir, project)
    try:
        yield emulators
    finally:
        stop(emulators)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transactions_tools.local.emulators",
        description="Run a command with the Pub/Sub and Bigtable emulators up (started if needed).",
    )
    sub = parser.add_subparsers(dest="action", required=True)
    run_parser = sub.add_parser("run", help="run COMMAND with the emulators' variables set")
    run_parser.add_argument("--log-dir", type=Path, default=Path(".local/logs"))
    run_parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    # Stop the emulators on SIGTERM as well as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        with running(args.log_dir) as emulators:
            print(
                f"emulators: Pub/Sub {emulators.pubsub_host}, Bigtable {emulators.bigtable_host}",
                file=sys.stderr,
                flush=True,
            )
            env = {**os.environ, **emulators.environment()}
            return subprocess.call(command, env=env)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
