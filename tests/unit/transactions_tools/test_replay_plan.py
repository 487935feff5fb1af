"""The replay's decisions, without Pub/Sub: what is replayed, left or refused, with which
attributes. The tool against the real emulator is tests/integration/test_deadletters_emulator.py."""

from tests.unit.transactions_tools.pulled import received
from transactions_tools.replay_plan import ReplayChoice, plan, replay_attributes


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
