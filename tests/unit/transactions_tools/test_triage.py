"""The dead-letter tool's decisions, without Pub/Sub: what is replayed, left or refused, with
which attributes. The tool against the real emulator is tests/integration/test_deadletters_emulator.py."""

import argparse
from types import SimpleNamespace

import pytest

from transactions.dead_letters import dead_letter
from transactions_tools.triage import ReplayChoice, check_options, main, plan, replay_attributes, summarize


def received(number: int, stage: str, reason: str, **extra: str):
    letter = dead_letter(f"body {number}".encode(), {"transaction_id": f"t{number}", **extra}, stage, reason, "why")
    message = SimpleNamespace(
        data=letter.data, attributes=letter.attributes, publish_time=number, message_id=str(number)
    )
    return SimpleNamespace(message=message, ack_id=f"ack-{number}")


def options(**values) -> ReplayChoice:
    return ReplayChoice(**values)


def test_a_replay_keeps_the_original_attributes_drops_the_error_ones_and_counts_itself():
    letter = received(1, "write", "bigtable_not_found", event_time="2025-12-05T21:13:52.076Z")
    replayed = replay_attributes(letter.message.attributes)
    assert replayed == {"transaction_id": "t1", "event_time": "2025-12-05T21:13:52.076Z", "replay_count": "1"}
    assert replay_attributes({**letter.message.attributes, "replay_count": "2"})["replay_count"] == "3"


def test_the_filters_choose_what_to_replay_and_leave_the_rest():
    letters = [
        received(1, "write", "bigtable_not_found"),
        received(2, "validate", "bad_price"),
        received(3, "write", "bigtable_internal"),
    ]
    decided = plan(letters, options(stage="write"))
    assert [r.ack_id for r in decided.replay] == ["ack-1", "ack-3"]
    assert [r.ack_id for r in decided.left] == ["ack-2"]
    decided = plan(letters, options(stage="write", reason="bigtable_internal"))
    assert [r.ack_id for r in decided.replay] == ["ack-3"]


def test_backfill_lines_rollup_totals_and_messages_replayed_too_often_are_refused_and_kept():
    line = received(1, "parse", "bad_csv_row", source_file="gs://b/sales.csv", source_offset="7")
    tired = received(2, "write", "bigtable_not_found", replay_count="3")
    fresh = received(3, "write", "bigtable_not_found", replay_count="2")
    total = received(4, "write", "bigtable_not_found", rollup="category_minute")
    decided = plan([line, tired, fresh, total], options())
    assert [r.ack_id for r in decided.replay] == ["ack-3"]
    assert [(r.ack_id, why) for r, why in decided.refused] == [
        ("ack-1", "a CSV line of gs://b/sales.csv@7: fix the file, backfill it"),
        ("ack-2", "replayed 3 times already (--max-replays 3)"),
        ("ack-4", "a category_minute total, not a transaction: its next firing rewrites it"),
    ]


def test_the_limit_leaves_the_rest_for_later_oldest_first():
    letters = [received(n, "write", "bigtable_not_found") for n in (3, 1, 2)]
    decided = plan(letters, options(limit=2))
    assert [r.ack_id for r in decided.replay] == ["ack-1", "ack-2"]
    assert [r.ack_id for r in decided.left] == ["ack-3"]


def test_the_summary_counts_reasons_times_and_keeps_three_samples_each():
    letters = [received(n, "validate", "bad_price") for n in range(5)] + [
        received(9, "parse", "bad_csv_row", source_file="sales.csv", source_offset="12")
    ]
    summary = summarize("projects/p-1234/subscriptions/dead-letters", letters)
    assert summary["pulled"] == 6
    assert summary["by_stage_and_reason"] == {"validate/bad_price": 5, "parse/bad_csv_row": 1}
    assert len(summary["samples"]["validate/bad_price"]) == 3
    assert summary["samples"]["parse/bad_csv_row"][0]["source"] == "sales.csv@12"
    assert summary["oldest_failed_at"] <= summary["newest_failed_at"]


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
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own checks (the numbers' ranges)
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert "error: " in err and message in err and "Traceback" not in err and err.count("\n") == 1


def test_good_options_pass():
    args = argparse.Namespace(command="inspect", subscription="projects/p-1234/subscriptions/dead-letters", max=10)
    assert check_options(args) == []


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
    monkeypatch.setattr(triage, "subscriber_client", lambda: subscriber)
    code = main(["inspect", "--subscription", "projects/p-1234/subscriptions/dead-letters"])
    assert code == 3
    assert subscriber.deadlines == [(["ack-0", "ack-1", "ack-2"], 600), (["ack-0", "ack-1", "ack-2"], 0)]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Pub/Sub failed: ResourceExhausted")
