"""Hostile input at the backfill's door: files a person might hand to ``--input_file``.

Each case runs the launch (``template/main.py``'s ``main``) on the local runner against the
emulators, and checks the exit code; that a refused file gets one line on stderr, without a
traceback, without a raw control character, with any quoted input bounded; and that nothing is
lost: every data line of an accepted file is a row or a dead letter.

| case                         | exit | outcome                                                              |
|------------------------------|------|----------------------------------------------------------------------|
| binary (1 MiB, ESC and NUL)  | 2    | one line: unrecognised header, found a 120-character escaped excerpt |
| gzip bytes named .csv        | 2    | one line: looks gzip-compressed; name it *.gz                        |
| empty                        | 2    | one line: empty file                                                 |
| header only                  | 0    | no row, no dead letter                                               |
| a 20 MB line among good ones | 0    | the good lines are rows; the long one a parse/too_large dead letter, |
|                              |      | its data cut to fit Pub/Sub and marked so                            |
| NUL bytes in fields          | 0    | NUL in a user id: validate/bad_user_id; in a product id: a row (the  |
|                              |      | contract allows it; readers escape it)                               |
| mixed line endings           | 0    | LF and CRLF lines are rows; two records joined by a lone CR are one  |
|                              |      | parse/bad_csv_row dead letter                                        |
"""

import gzip
import random

import pytest

from tests.integration.harness import provision_for_test, pull_dead_letters, read_rows
from tests.integration.test_backfill_emulator import HEADER, backfill_args
from tests.output import one_clean_line
from transactions.attributes import DATA_TRUNCATED_FROM
from transactions.excerpt import EXCERPT_CHARS
from transactions_pipeline.launch import main

pytestmark = pytest.mark.integration

GOOD = "12de933f,45a95ff7,Sports,323.1,25,242.33,Credit Card,12-04-2024"
GOOD_2 = "02428050,9ff92da9,Books,100,0,100,UPI,09-11-2024"
GOOD_3 = "c52a3ee6,aa11bb22,Home & Kitchen,332,50,166,Cash on Delivery,01-01-2023"


def _binary() -> bytes:
    noise = random.Random(7).randbytes(1024 * 1024)
    return b"\x1b[2J\x1b]0;owned\x07" + noise.replace(b"\n", b"\x1b")


REFUSED = {  # case -> (file name, content, what the one line says)
    "binary": ("dump.csv", _binary(), "unrecognised header; expected User_ID"),
    "gzip without .gz": ("sales.csv", gzip.compress(f"{HEADER}\n{GOOD}\n".encode()), "looks gzip-compressed"),
    "empty": ("empty.csv", b"", "empty file"),
}

ACCEPTED = {  # case -> (content, rows written, dead letters as (stage, reason))
    "header only": (f"{HEADER}\n".encode(), 0, []),
    "a 20 MB line": (
        f"{HEADER}\n{GOOD}\n".encode() + b"u1,p1,Books," + b"9" * (20 * 1024 * 1024) + f"\n{GOOD_2}\n".encode(),
        2,
        [("parse", "too_large")],
    ),
    "NUL bytes": (
        f"{HEADER}\n{GOOD}\n".encode()
        + b"02428050,\x00p\x00,Books,100,0,100,UPI,09-11-2024\n"
        + b"\x00user,9ff92da9,Books,100,0,100,UPI,09-11-2024\n",
        2,
        [("validate", "bad_user_id")],
    ),
    "mixed line endings": (
        f"{HEADER}\r\n{GOOD}\n{GOOD_2}\r\n{GOOD_3}\r{GOOD.replace('12de933f', 'aaaa0001')}\n".encode(),
        2,
        [("parse", "bad_csv_row")],
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_refused_file_gets_one_clean_line_and_exit_2(emulators, unique, tmp_path, capsys, case):
    name, content, says = REFUSED[case]
    resources = provision_for_test(unique)
    path = tmp_path / name
    path.write_bytes(content)
    assert main(backfill_args(resources, str(path))) == 2
    # the file is never echoed whole: an excerpt at most
    line = one_clean_line(capsys.readouterr().err, 400 + EXCERPT_CHARS + len(str(path)))
    assert line.startswith("error: --input_file: ") and says in line
    assert read_rows(resources) == {}


@pytest.mark.parametrize("case", ACCEPTED)
def test_an_accepted_file_loses_nothing(emulators, unique, tmp_path, capsys, case):
    content, rows, letters = ACCEPTED[case]
    resources = provision_for_test(unique)
    path = tmp_path / "sales.csv"
    path.write_bytes(content)
    assert main(backfill_args(resources, str(path))) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "\x1b" not in err and "\x00" not in err
    assert len(read_rows(resources)) == rows
    dead = pull_dead_letters(resources, len(letters) + 1, timeout=10 if letters else 3)
    assert sorted((m.attributes["error_stage"], m.attributes["error_reason"]) for m in dead) == sorted(letters)
    for letter in dead:  # the human-readable detail is escaped and bounded; the data is the line's bytes
        detail = letter.attributes["error_detail"]
        assert not any(ord(c) < 32 for c in detail) and len(detail) <= 1000
        if DATA_TRUNCATED_FROM in letter.attributes:
            assert int(letter.attributes[DATA_TRUNCATED_FROM]) > 20 * 1024 * 1024
            assert content.find(letter.data) > 0
        else:
            assert letter.data in content
