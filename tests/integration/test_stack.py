"""``make up`` leaves the stack running, ``make demo`` reuses it, the README's commands after
``make up`` give what it says, and ``make down`` stops exactly what ``make up`` started."""

import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.output import first_group

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def readme_after_make_up() -> tuple[list[str], str]:
    """The README's producer arguments and ``make lookup`` user, from its ``make up`` block."""
    block = README.split("## Leave it running: `make up`", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    producer = first_group(r"^\.venv/bin/python -m producer (.+?)\s*$", block, re.M).split()
    user = first_group(r"^make lookup USER=(\S+)", block, re.M)
    return producer, user


def sales_of(user: str, first: int) -> list[str]:
    """Product ids of ``user``'s sales among the sample's first ``first`` records."""
    with open(ROOT / "data" / "sample_transactions.csv", newline="") as handle:
        records = list(csv.DictReader(handle))[:first]
    return [record["Product_ID"] for record in records if record["User_ID"] == user]


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
        user = first_group(r"latest 5 transactions of user (\S+) ", demo.stdout)

        lookup = tool("transactions_tools.lookup", user, env={**env, **exported})
        assert lookup.returncode == 0 and f"transactions of user {user} (newest first)" in lookup.stdout

        # The README's sequence: its producer command, then its `make lookup` user has rows.
        producer_args, readme_user = readme_after_make_up()
        limit = int(producer_args[producer_args.index("--limit") + 1])
        expected = sales_of(readme_user, limit)
        assert len(expected) == 5, "the README's example user has 5 sales in what its producer command sends"
        published = tool("producer", *producer_args, env={**env, **exported})
        assert published.returncode == 0, published.stdout[-2000:] + published.stderr[-2000:]
        deadline = time.monotonic() + 120
        while True:
            shown = tool("transactions_tools.lookup", readme_user, "--json", env={**env, **exported})
            assert shown.returncode == 0, shown.stderr
            found = [row["product_id"] for row in json.loads(shown.stdout)["transactions"]]
            if sorted(found) == sorted(expected) or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert sorted(found) == sorted(expected), "make lookup USER=... shows that user's sales, as the README says"
        assert all(alive(pid) for pid in pids), "the demo leaves the stack up"
    finally:
        down = tool("transactions_tools.local.stack", "down", env=env)
    assert down.returncode == 0 and "stopped 3 process groups" in down.stdout
    assert not any(alive(pid) for pid in pids)
    assert not state_path.exists()
    assert "no stack is up" in tool("transactions_tools.local.stack", "down", env=env).stdout
