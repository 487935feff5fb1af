"""``make up`` leaves the stack running, ``make demo`` reuses it, ``make down`` stops exactly it."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def tool(module: str, *args: str, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout
    )


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_up_demo_lookup_down(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PUBSUB_EMULATOR_HOST", "BIGTABLE_EMULATOR_HOST")}
    env["TRANSACOES_STACK_DIR"] = str(tmp_path / "stack")
    up = tool("transactions_tools.local.stack", "up", "--log-dir", str(tmp_path / "logs"), env=env)
    state_path = tmp_path / "stack" / "state.json"
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"source {tmp_path / 'stack' / 'env'}" in up.stdout
        state = json.loads(state_path.read_text())
        pids = [p["pid"] for p in state["processes"]]
        assert len(pids) == 3 and all(alive(pid) for pid in pids)  # two emulators and the job
        exported = dict(re.findall(r"export (\w+)=(\S+)", (tmp_path / "stack" / "env").read_text()))
        assert exported["PUBSUB_EMULATOR_HOST"] == state["pubsub_host"]
        assert exported["BIGTABLE_EMULATOR_HOST"] == state["bigtable_host"]
        assert "already up" in tool("transactions_tools.local.stack", "up", env=env).stdout

        demo = tool(
            "transactions_tools.local.demo",
            "--limit",
            "60",
            "--rate",
            "60",
            "--invalid-share",
            "0",
            "--log-dir",
            str(tmp_path / "demo"),
            env=env,
        )
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        assert "using the stack that make up started" in demo.stdout
        assert "accounted for   60 of 60 (OK)" in demo.stdout
        user = re.search(r"latest 5 transactions of user (\S+) ", demo.stdout).group(1)

        lookup = tool("transactions_tools.lookup", user, env={**env, **exported})
        assert lookup.returncode == 0 and f"transactions of user {user} (newest first)" in lookup.stdout
        assert all(alive(pid) for pid in pids), "the demo leaves the stack up"
    finally:
        down = tool("transactions_tools.local.stack", "down", env=env)
    assert down.returncode == 0 and "stopped 3 process groups" in down.stdout
    assert not any(alive(pid) for pid in pids)
    assert not state_path.exists()
    assert "no stack is up" in tool("transactions_tools.local.stack", "down", env=env).stdout
