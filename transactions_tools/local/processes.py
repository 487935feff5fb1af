"""Background processes of the local stack, each in its own process group.

The emulators (gcloud starts java and cbtemulator under it), the pipeline and the producer
are all started here and stopped with their whole group, so nothing outlives the command that
started it.
"""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol


def spawn(command: list[str], log_path: Path, env: dict | None = None, append: bool = True) -> subprocess.Popen:
    """Start ``command`` in a new process group, its output (both streams) into ``log_path``."""
    with log_path.open("ab" if append else "wb") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )


class Stoppable(Protocol):
    """What :func:`stop` needs of a process: a ``Popen``, or one recorded by an earlier command."""

    pid: int

    def wait(self, timeout: float) -> object: ...


def stop(processes: Iterable[Stoppable | None], grace_seconds: float = 10) -> None:
    """SIGTERM to each process group, then SIGKILL to whatever of the group is left."""
    started = [p for p in processes if p is not None]
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    for process in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
