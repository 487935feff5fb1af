"""The dead-letter tool's command line: one-line errors and exit codes, and what a failed
command does with what it pulled (a scripted subscriber). Its decisions are
test_replay_plan.py's, its report test_dead_letter_report.py's, and the tool against the real
emulator is tests/integration/test_deadletters_emulator.py."""

from types import SimpleNamespace

import pytest

from tests.unit.transactions_tools.pulled import received
from transactions.cli_errors import check_names
from transactions_tools.triage import NAMED_OPTIONS, build_parser, main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["replay", "--subscription", "projects/p-1234/subscriptions/dead-letters", "--topic", "t"],
            "--topic: 't' is not",
        ),
        (["inspect", "--subscription", "dl"], "--subscription: 'dl' is not"),
        (
            [
                "replay",
                "--subscription",
                "projects/p-1234/subscriptions/dead-letters",
                "--topic",
                "projects/p-1234/topics/in",
                "--rate",
                "-1",
            ],
            "argument --rate: '-1' is not a finite number from 0 to 100000",
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_2(argv, message, capsys):
    code: int | str | None
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own checks (the numbers' ranges)
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert "error: " in err and message in err and "Traceback" not in err and err.count("\n") == 1


def test_good_options_pass():
    args = build_parser().parse_args(["inspect", "--subscription", "projects/p-1234/subscriptions/dead-letters"])
    check_names(build_parser(), args, NAMED_OPTIONS[:1])  # no SystemExit
    assert args.max == 1000


class _FailingSubscriber:
    """A subscriber whose second pull fails (a stand-in: the emulator cannot be told to fail a pull)."""

    def __init__(self) -> None:
        self.pulls = 0
        self.deadlines: list[tuple[list[str], int]] = []

    def pull(self, subscription, max_messages, timeout):
        self.pulls += 1
        if self.pulls > 1:
            from google.api_core import exceptions

            raise exceptions.ResourceExhausted("Received message larger than max")
        return SimpleNamespace(received_messages=[received(n, "write", "bigtable_not_found") for n in range(3)])

    def modify_ack_deadline(self, subscription, ack_ids, ack_deadline_seconds):
        self.deadlines.append((list(ack_ids), ack_deadline_seconds))

    def get_subscription(self, subscription, timeout, retry):
        return None


def test_a_command_that_fails_midway_hands_back_what_it_pulled_at_once(monkeypatch, capsys):
    from transactions_tools import triage

    subscriber = _FailingSubscriber()
    monkeypatch.setattr(triage, "subscriber_client", lambda opened: subscriber)
    code = main(["inspect", "--subscription", "projects/p-1234/subscriptions/dead-letters"])
    assert code == 3
    assert subscriber.deadlines == [(["ack-0", "ack-1", "ack-2"], 600), (["ack-0", "ack-1", "ack-2"], 0)]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Pub/Sub failed: ResourceExhausted")
