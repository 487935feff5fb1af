"""The batch backfill (--input_file) end to end on the real emulators: rows and dead letters exact."""

import pytest

from tests.integration.harness import INSTANCE, PROJECT, provision_for_test, pull_dead_letters, read_rows
from transactions.attributes import SOURCE_FILE, SOURCE_LINE
from transactions_pipeline.backfill import SourceLine, parse_csv_line
from transactions_pipeline.launch import main
from transactions_pipeline.rows import to_row

pytestmark = pytest.mark.integration

HEADER = "User_ID,Product_ID,Category,Price (Rs.),Discount (%),Final_Price(Rs.),Payment_Method,Purchase_Date"
GOOD = [
    "12de933f,45a95ff7,Sports,323.1,25,242.33,Credit Card,12-04-2024",
    "02428050,9ff92da9,Sports,293.2,20,234.56,Credit Card,09-11-2024",
    "02428050,9ff92da9,Books,100,0,100,UPI,09-11-2024",  # same user and day: two rows, not one
    "c52a3ee6,aa11bb22,Home & Kitchen,332,50,166,Cash on Delivery,01-01-2023",
]
BAD = {  # line text -> (stage, reason)
    "12de933f,45a95ff7,Sports,323.1,25,242.33,Credit Card": ("parse", "bad_csv_row"),
    "12de933f,45a95ff7,Sports,323.1,25,242.33,Credit Card,31-02-2024": ("parse", "bad_csv_row"),
    "12de933f,45a95ff7,Sports,100,10,50,Credit Card,12-04-2024": ("validate", "final_price_mismatch"),
}


def backfill_args(resources, path) -> list[str]:
    return [
        "--runner=DirectRunner",
        f"--project={PROJECT}",
        f"--input_file={path}",
        f"--bigtable_instance={INSTANCE}",
        f"--bigtable_table={resources.table}",
        f"--dead_letter_topic={resources.topic_path(resources.dead_letter_topic)}",
    ]


def test_backfill_writes_exact_rows_dead_letters_bad_lines_and_reruns_idempotently(emulators, unique, tmp_path):
    resources = provision_for_test(unique)
    lines = [HEADER, GOOD[0], *BAD, "", GOOD[1], GOOD[2], GOOD[3]]  # a blank line is skipped, not dead-lettered
    path = tmp_path / "sales.csv"
    path.write_text("\r\n".join(lines) + "\r\n")

    expected = {}
    for number, text in enumerate(lines, start=1):
        if text in GOOD:
            row = to_row(
                parse_csv_line(SourceLine(text.encode(), {SOURCE_FILE: str(path), SOURCE_LINE: str(number)})), None
            )
            expected[row.row_key] = {q: [(v, row.timestamp_micros)] for q, v in row.cells}
    assert len(expected) == 4

    for run in (1, 2):  # the second run rewrites the very same cells
        assert main(backfill_args(resources, str(tmp_path / "*.csv"))) == 0
        assert read_rows(resources) == expected, f"run {run}"
        letters = pull_dead_letters(resources, len(BAD), timeout=30)
        assert {m.data.decode(): (m.attributes["error_stage"], m.attributes["error_reason"]) for m in letters} == BAD, (
            f"run {run}"
        )
        for letter in letters:
            assert letter.attributes[SOURCE_FILE] == str(path)
            assert lines[int(letter.attributes[SOURCE_LINE]) - 1] == letter.data.decode()
        assert pull_dead_letters(resources, 1, timeout=2) == []


def test_backfill_of_a_pattern_that_matches_nothing_fails_at_launch(emulators, unique, tmp_path, capsys):
    resources = provision_for_test(unique)
    assert main(backfill_args(resources, str(tmp_path / "nothing-*.csv"))) == 2
    assert f"error: --input_file: no file matches '{tmp_path}/nothing-*.csv'" in capsys.readouterr().err


def test_backfill_of_a_file_with_a_foreign_header_fails_at_launch(emulators, unique, tmp_path, capsys):
    resources = provision_for_test(unique)
    path = tmp_path / "other.csv"
    path.write_text("id,name\n1,x\n")
    assert main(backfill_args(resources, str(path))) == 2
    assert f"error: --input_file: {path}: unrecognised header." in capsys.readouterr().err
    assert read_rows(resources) == {}
