"""Every Pub/Sub attribute name, exactly: they are the wire contract with whoever filters dead
letters, alerts on them or replays them, so a renamed constant must fail here first."""

from pathlib import Path

import pytest

from transactions import attributes, dead_letters

ROOT = Path(__file__).resolve().parents[3]
NAMES = {
    "TRANSACTION_ID": "transaction_id",
    "EVENT_TIME": "event_time",
    "ERROR_STAGE": "error_stage",
    "ERROR_REASON": "error_reason",
    "ERROR_DETAIL": "error_detail",
    "FAILED_AT": "failed_at",
    "DATA_TRUNCATED_FROM": "error_data_truncated_from",
    "DATA_SHA256": "error_data_sha256",
    "SOURCE_FILE": "source_file",
    "SOURCE_OFFSET": "source_offset",
    "REPLAY_COUNT": "replay_count",
    "ROLLUP": "rollup",
}


def test_every_attribute_name_is_the_documented_one():
    defined = {name: value for name, value in vars(attributes).items() if name.isupper() and isinstance(value, str)}
    assert defined == NAMES


def test_the_dead_letters_own_attributes_are_the_error_ones_and_failed_at():
    assert attributes.DEAD_LETTER_ATTRIBUTES == (
        "error_stage",
        "error_reason",
        "error_detail",
        "failed_at",
        "error_data_truncated_from",
        "error_data_sha256",
    )


def test_a_replay_takes_off_exactly_the_dead_letters_own_attributes():
    received = {name: "x" for name in NAMES.values()}
    kept = dead_letters.without_dead_letter_attributes(received)
    assert sorted(kept) == sorted(set(NAMES.values()) - set(attributes.DEAD_LETTER_ATTRIBUTES))


@pytest.mark.parametrize("name", sorted(set(NAMES.values()) - {"transaction_id", "event_time"}))
def test_every_attribute_a_dead_letter_can_carry_is_in_docs_dead_letters(name):
    assert f"`{name}`" in (ROOT / "docs" / "dead-letters.md").read_text()


@pytest.mark.parametrize("name", ["transaction_id", "event_time"])
def test_every_message_attribute_is_in_docs_contract(name):
    assert f"`{name}`" in (ROOT / "docs" / "contract.md").read_text()
