"""The local stack: emulators, provisioned resources and the streaming job, together.

``make demo`` starts one for its run and stops it afterwards. ``make up`` starts one in the
background and leaves it running, with its state in ``.local/stack/``: ``state.json`` (what was
started, to stop exactly that) and ``env`` (the variables to point the clients at it, which
``make lookup`` and ``make deadletters`` read). ``make down`` stops exactly what ``make up``
started. ``make demo`` reuses a stack that is up.

    python -m transactions_tools.local.stack up|down|status
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from transactions_tools.local import emulators as emulator_stack
from transactions_tools.local import processes
from transactions_tools.local.commands import local_resources, pipeline_command
from transactions_tools.local.emulators import StackError
from transactions_tools.provision import Resources, provision

STATE_DIR = Path(os.environ.get("TRANSACOES_STACK_DIR", ".local/stack"))
"""Where ``make up`` records what it started (``TRANSACOES_STACK_DIR`` moves it, for tests)."""
PIPELINE_WARMUP_SECONDS = 8.0
"""The local job needs a few seconds before it pulls; messages published earlier wait for it."""


@dataclass
class Stack:
    """A running stack: where the emulators listen, its resources, and what it started."""

    emulators: emulator_stack.Emulators
    resources: Resources
    pipeline: subprocess.Popen | None = None
    pipeline_log: Path | None = None
    started: list[subprocess.Popen] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        return self.emulators.environment()


def start_pipeline(
    resources: Resources,
    log_path: Path,
    env: dict[str, str],
    extra_args: Sequence[str] = (),
    warmup: float | None = None,
) -> subprocess.Popen[bytes]:
    """The streaming job in the background; raises :class:`StackError` if it exits during warm-up."""
    pipeline = processes.spawn(pipeline_command(resources, *extra_args), log_path, env, append=False)
    ready = time.monotonic() + (PIPELINE_WARMUP_SECONDS if warmup is None else warmup)
    while time.monotonic() < ready:
        if pipeline.poll() is not None:
            raise StackError(f"the pipeline exited with {pipeline.returncode}:\n{tail(log_path)}")
        time.sleep(0.2)
    return pipeline


def tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running(
    log_dir: Path,
    resources: Resources,
    pipeline_args: Sequence[str] = (),
    warmup: float | None = None,
    log: Callable[[str], None] = print,
) -> Iterator[Stack]:
    """Emulators (reused from the environment, or started), resources, and the job; stopped after."""
    with emulator_stack.running(log_dir) as emulators:
        env = {**os.environ, **emulators.environment()}
        os.environ.update(emulators.environment())
        log(f"emulators: Pub/Sub {emulators.pubsub_host}, Bigtable {emulators.bigtable_host}")
        provision(resources, log=lambda line: log(f"  {line}"))
        pipeline_log = log_dir / "pipeline.log"
        pipeline = None
        try:
            pipeline = start_pipeline(resources, pipeline_log, env, pipeline_args, warmup)
            yield Stack(emulators, resources, pipeline, pipeline_log)
        finally:
            processes.stop([pipeline], grace_seconds=15)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def attached() -> Stack | None:
    """The stack ``make up`` left running, if its processes are all still there."""
    state_path = STATE_DIR / "state.json"
    if not state_path.exists():
        return None
    state = json.loads(state_path.read_text())
    if any(_cmdline(p["pid"]) != p["cmdline"] for p in state["processes"]):
        return None
    emulators = emulator_stack.Emulators(state["pubsub_host"], state["bigtable_host"], state["project"])
    return Stack(emulators, Resources(**state["resources"]), pipeline_log=Path(state["pipeline_log"]))


def up(log_dir: Path) -> int:
    if attached() is not None:
        print(f"the stack is already up; its variables are in {STATE_DIR / 'env'} (make down to stop it)")
        return 0
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    for key in ("PUBSUB_EMULATOR_HOST", "BIGTABLE_EMULATOR_HOST"):
        os.environ.pop(key, None)  # make up always starts emulators of its own, to stop them later
    emulators = emulator_stack.start(log_dir)
    started = list(emulators.processes)
    try:
        env = {**os.environ, **emulators.environment()}
        os.environ.update(emulators.environment())
        resources = local_resources()
        provision(resources, log=lambda line: print(f"  {line}"))
        pipeline_log = log_dir / "pipeline.log"
        started.append(start_pipeline(resources, pipeline_log, env))
    except BaseException:
        processes.stop(started)
        raise
    state = {
        "pubsub_host": emulators.pubsub_host,
        "bigtable_host": emulators.bigtable_host,
        "project": emulators.project,
        "resources": resources.__dict__,
        "pipeline_log": str(pipeline_log.resolve()),
        "processes": [{"pid": p.pid, "cmdline": _cmdline(p.pid)} for p in started],
    }
    (STATE_DIR / "state.json").write_text(json.dumps(state, indent=2))
    exports = {
        **emulators.environment(),
        "BIGTABLE_PROJECT": resources.project,
        "BIGTABLE_INSTANCE": resources.instance,
    }
    (STATE_DIR / "env").write_text("".join(f"export {k}={v}\n" for k, v in exports.items()))
    print(f"stack up: emulators, resources and the streaming job (log: {pipeline_log})")
    print(f"  topic {resources.topic_path(resources.topic)} -> table {resources.table}")
    print(f"  dead letters: {resources.subscription_path(resources.dead_letter_subscription)}")
    print(f"to use it from this shell:\n  source {STATE_DIR / 'env'}")
    print("".join(f"  export {k}={v}\n" for k, v in exports.items()), end="")
    print("then e.g.: python -m producer --topic", resources.topic_path(resources.topic), "--rate 50 --limit 500")
    print("stop it with: make down")
    return 0


def down() -> int:
    state_path = STATE_DIR / "state.json"
    if not state_path.exists():
        print("no stack is up (nothing recorded in", state_path, ")")
        return 0
    state = json.loads(state_path.read_text())
    mine = []
    for recorded in state["processes"]:
        if _cmdline(recorded["pid"]) == recorded["cmdline"]:
            mine.append(_Recorded(recorded["pid"]))
    processes.stop(mine, grace_seconds=15)
    for name in ("state.json", "env"):
        (STATE_DIR / name).unlink(missing_ok=True)
    print(f"stack down: stopped {len(mine)} process groups")
    return 0


class _Recorded:
    """A process recorded by ``make up`` in an earlier command: enough of ``Popen`` to stop it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{self.pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if Path(f"/proc/{self.pid}").exists() and _state(self.pid) != "Z":
            raise subprocess.TimeoutExpired(str(self.pid), timeout)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def status() -> int:
    stack = attached()
    if stack is None:
        print("down")
        return 1
    print(f"up: Pub/Sub {stack.emulators.pubsub_host}, Bigtable {stack.emulators.bigtable_host}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transactions_tools.local.stack", description=__doc__.split("\n")[0]
    )
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--log-dir", type=Path, default=Path(".local/logs/stack"))
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            return up(args.log_dir.resolve())
        return down() if args.action == "down" else status()
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
