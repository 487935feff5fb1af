"""Hostile input at every command's options, and a launch without credentials.

Each case calls the command's ``main`` in this process (no emulator: every one of these is refused
before anything is reached) and checks the exit code, and that stderr is exactly one line, with no
traceback, no raw control character, and any quoted input bounded.

| command                 | options                                   | exit | says                                        |
|-------------------------|-------------------------------------------|------|---------------------------------------------|
| producer                | --rate nan / inf / -1 / 1e300             | 2    | --rate: not a finite number from 0 to 1e6   |
| producer                | --invalid-share 2, --batch-size 5000      | 2    | the range                                   |
| producer                | --topic with ESC and 10,000 characters    | 2    | --topic: an escaped 120-character excerpt   |
| producer                | --limit -5, --report-every 0              | 2    | the range                                   |
| transacoes-deadletters  | --rate nan, --max 0, --max 10**9          | 2    | the range                                   |
| transacoes-deadletters  | --max-replays inf, --limit -1             | 2    | the range                                   |
| transacoes-deadletters  | a malformed --subscription / --topic      | 2    | the expected form                           |
| transacoes-lookup       | --limit 0, --days nan, --minutes 1e9      | 2    | the range                                   |
| transacoes-lookup       | --instance 'a b', --until 0001-01-01      | 2    | the expected form                           |
| transacoes-provision    | --project with NUL, --topic 'x'           | 2    | the expected form                           |
| template/main.py        | --bigtable_table with ESC, huge --project | 2    | the parameter and the expected form         |
| make demo, make chaos   | --rate inf, --fault-seconds -3            | 2    | the range                                   |
| every command           | no credentials (no ADC, no emulator)      | 2    | no usable Google Cloud credentials; how to  |
"""

import pytest

from producer import cli as producer_cli
from tests.output import one_clean_line
from transactions.excerpt import EXCERPT_CHARS
from transactions_pipeline import launch
from transactions_tools import lookup, provision, triage
from transactions_tools.local import chaos, demo

SUB = "projects/local-project/subscriptions/dead-letters"
TOPIC = "projects/local-project/topics/transacoes"
LONG_ESC = "\x1b[2J" + "t" * 10_000
LAUNCH = [
    "--runner=DirectRunner",
    "--project=my-project-x",
    f"--input_subscription={SUB}",
    f"--dead_letter_topic={TOPIC}",
    "--bigtable_instance=inst-12",
    "--bigtable_table=transacoes",
]

CASES = {  # name -> (main, argv, what stderr says)
    "producer rate nan": (producer_cli.main, ["--dry-run", "--rate", "nan"], "--rate: 'nan' is not a finite number"),
    "producer rate inf": (producer_cli.main, ["--dry-run", "--rate", "inf"], "--rate: 'inf' is not a finite number"),
    "producer rate negative": (producer_cli.main, ["--dry-run", "--rate", "-1"], "from 0 to 1e+06"),
    "producer rate huge": (producer_cli.main, ["--dry-run", "--rate", "1e300"], "from 0 to 1e+06"),
    "producer share": (producer_cli.main, ["--dry-run", "--invalid-share", "2"], "from 0 to 1"),
    "producer batch": (producer_cli.main, ["--dry-run", "--batch-size", "5000"], "from 1 to 1000"),
    "producer limit": (producer_cli.main, ["--dry-run", "--limit", "-5"], "--limit: '-5' is not"),
    "producer report": (producer_cli.main, ["--dry-run", "--report-every", "0"], "--report-every: '0' is not"),
    "producer topic": (producer_cli.main, ["--topic", LONG_ESC], "--topic: '\\x1b[2Jttt"),
    "deadletters rate": (
        triage.main,
        ["replay", "--subscription", SUB, "--topic", TOPIC, "--rate", "nan"],
        "--rate: 'nan' is not a finite number",
    ),
    "deadletters max 0": (triage.main, ["inspect", "--subscription", SUB, "--max", "0"], "from 1 to 100000"),
    "deadletters max huge": (triage.main, ["inspect", "--subscription", SUB, "--max", "1000000000"], "to 100000"),
    "deadletters max-replays": (
        triage.main,
        ["replay", "--subscription", SUB, "--topic", TOPIC, "--max-replays", "inf"],
        "--max-replays: 'inf' is not a whole number",
    ),
    "deadletters limit": (
        triage.main,
        ["replay", "--subscription", SUB, "--topic", TOPIC, "--limit", "-1"],
        "--limit: '-1' is not",
    ),
    "deadletters subscription": (
        triage.main,
        ["inspect", "--subscription", LONG_ESC],
        "--subscription: '\\x1b[2Jttt",
    ),
    "deadletters topic": (
        triage.main,
        ["replay", "--subscription", SUB, "--topic", "projects/p/topics/\x00"],
        "--topic: 'projects/p/topics/\\x00' is not projects/<project>/topics/<topic>",
    ),
    "lookup limit": (lookup.main, ["u1", "--limit", "0"], "--limit: '0' is not a whole number from 1 to 10000"),
    "lookup days": (lookup.main, ["--user-days", "u1", "--days", "nan"], "--days: 'nan' is not a whole number"),
    "lookup minutes": (lookup.main, ["--category", "Books", "--minutes", "1e9"], "--minutes: '1e9' is not"),
    "lookup instance": (lookup.main, ["u1", "--instance", "a b"], "--instance: 'a b' is not an instance id"),
    "lookup until": (
        lookup.main,
        ["--user-days", "u1", "--until", "0001-01-01"],
        "--until: '0001-01-01' is not YYYY-MM-DD",
    ),
    "provision project": (
        provision.main,
        ["--project", "p\x00roject", "--instance", "inst-12"],
        "--project: 'p\\x00roject' is not a project id",
    ),
    "provision topic": (
        provision.main,
        ["--project", "my-project-x", "--instance", "inst-12", "--topic", "x"],
        "--topic: 'x' is not a topic or subscription id",
    ),
    "launch table": (
        launch.main,
        [*LAUNCH, "--bigtable_table=\x1b]0;owned\x07"],
        "--bigtable_table: '\\x1b]0;owned\\x07' is not a table id",
    ),
    "launch project": (launch.main, [*LAUNCH, f"--bigtable_project={LONG_ESC}"], "--bigtable_project: '\\x1b[2Jttt"),
    "demo rate": (demo.main, ["--rate", "inf"], "--rate: 'inf' is not a finite number"),
    "chaos fault seconds": (chaos.main, ["--fault-seconds", "-3"], "--fault-seconds: '-3' is not"),
}


def _exit_code(main, argv) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse's own checks end with SystemExit(2)
        assert isinstance(stop.code, int), stop.code
        return stop.code


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_option_is_one_clean_line_and_exit_2(case, capsys, monkeypatch):
    main, argv, says = CASES[case]
    monkeypatch.delenv("PRODUCER_TOPIC", raising=False)
    assert _exit_code(main, argv) == 2
    line = one_clean_line(capsys.readouterr().err, 500 + EXCERPT_CHARS)
    assert says in line, line


NO_CREDENTIALS = {  # command -> argv (well-formed: only the credentials are missing)
    "launch": (launch.main, LAUNCH),
    "producer": (producer_cli.main, ["--topic", TOPIC, "--limit", "1"]),
    "provision": (provision.main, ["--project", "my-project-x", "--instance", "inst-12"]),
    "lookup": (lookup.main, ["u1", "--project", "my-project-x", "--instance", "inst-12"]),
    "deadletters": (triage.main, ["inspect", "--subscription", SUB]),
}


@pytest.mark.parametrize("command", NO_CREDENTIALS)
def test_without_credentials_every_command_says_how_to_provide_them(command, capsys, monkeypatch, tmp_path):
    """No emulator variables and a credentials file that is not there: ``google.auth`` raises at
    once, with no network call, as it does on a machine without ADC."""
    for variable in ("PUBSUB_EMULATOR_HOST", "BIGTABLE_EMULATOR_HOST"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    main, argv = NO_CREDENTIALS[command]
    assert _exit_code(main, argv) == 2
    line = one_clean_line(capsys.readouterr().err, 500 + EXCERPT_CHARS)
    assert line.startswith("error: no usable Google Cloud credentials (") and "application-default login" in line
