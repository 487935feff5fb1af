"""What ``inspect`` reports of the pulled dead letters, without Pub/Sub."""

from tests.unit.transactions_tools.pulled import received
from transactions_tools.dead_letter_report import summarize


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
