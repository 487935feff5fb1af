"""``python -m producer`` without Pub/Sub: the dry run prints the messages and the summary."""

import subprocess
import sys

import orjson


def test_dry_run_prints_messages_and_a_summary():
    result = subprocess.run(
        [sys.executable, "-m", "producer", "--dry-run", "--limit", "5", "--rate", "0", "--run-id", "t1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [orjson.loads(line)["transaction_id"] for line in lines] == [f"t1:0:{n}" for n in range(2, 7)]
    assert "summary: published=5 failed=0" in result.stderr
