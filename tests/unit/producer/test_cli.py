"""``python -m producer`` without Pub/Sub: the dry run prints the messages and the summary."""

import subprocess
import sys

import orjson

from producer import cli
from tests.output import one_clean_line


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


def _exit_code(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as stop:  # the parser's own checks end with SystemExit(2)
        return int(stop.code or 0)


def test_a_malformed_topic_is_refused_as_every_command_refuses_a_name(capsys, monkeypatch):
    """The topic's form is checked by ``cli_errors.check_names``, as in the other commands: one
    line naming the option and the expected form, exit code 2, before anything is reached."""
    monkeypatch.delenv("PRODUCER_TOPIC", raising=False)
    assert _exit_code(["--topic", "transacoes"]) == 2
    line = one_clean_line(capsys.readouterr().err, 300)
    assert line == (
        "python -m producer: error: --topic: 'transacoes' is not projects/<project>/topics/<topic> (see --help)"
    )


def test_an_empty_topic_is_not_a_malformed_one_but_a_missing_one(capsys, monkeypatch):
    monkeypatch.setenv("PRODUCER_TOPIC", "")
    assert _exit_code([]) == 2
    line = one_clean_line(capsys.readouterr().err, 300)
    assert line == "error: --topic is required (projects/<project>/topics/<topic>), or use --dry-run"
