"""The batch backfill (--input_file) end to end on the real emulators: rows and dead letters exact."""

from collections.abc import Callable

import pytest

from tests.integration.harness import INSTANCE, PROJECT, provision_for_test, pull_dead_letters, read_rows
from transactions.attributes import SOURCE_FILE, SOURCE_OFFSET
from transactions_pipeline.backfill import SourceLine, parse_csv_line
from transactions_pipeline.launch import main
from transactions_pipeline.rows import to_row
from transactions_tools.digest import table_digest

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
    content = ("\r\n".join(lines) + "\r\n").encode()
    path.write_bytes(content)

    expected = {}
    for text in GOOD:
        offset = content.index(text.encode())
        line = SourceLine(text.encode(), {SOURCE_FILE: str(path), SOURCE_OFFSET: str(offset)})
        row = to_row(parse_csv_line(line), line)
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
            offset = int(letter.attributes[SOURCE_OFFSET])
            assert content[offset:].split(b"\r\n", 1)[0] == letter.data
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
    assert f"error: --input_file: {path}: unrecognised header; expected User_ID," in capsys.readouterr().err
    assert read_rows(resources) == {}


def test_a_file_read_in_many_ranges_gives_the_same_table_and_dead_letters_as_in_one(emulators, unique, tmp_path):
    """Beam's own split of the file into ~100 ranges, each read by the job's source, then the job's
    own parse, write and dead letters: the same cells (sha256 over every cell and timestamp) and
    the same dead letters as the whole file read as one range."""
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

    from tests.integration.harness import job_config
    from transactions_pipeline.backfill import KaggleCsvSource
    from transactions_pipeline.dead_letter_sink import PublishDeadLetters
    from transactions_pipeline.pipeline import parse_and_validate, write_rows

    lines = [HEADER] + [GOOD[i % 4].replace("12de933f", f"u{i:07d}") for i in range(300)] + list(BAD) * 3
    path = tmp_path / "sales.csv"
    path.write_bytes(("\ufeff" + "\r\n".join(lines)).encode())  # a BOM, CRLF, no final newline
    results = {}
    for ranges, desired_bytes in (("many", 97), ("one", 1 << 30)):
        resources = provision_for_test(f"{unique}{ranges}")
        bundles = list(KaggleCsvSource(str(path)).split(desired_bundle_size=desired_bytes))
        pipeline = BeamTestPipeline(runner="FnApiRunner")
        records = (
            pipeline
            | beam.Create(bundles)
            | beam.FlatMap(lambda b: b.source.read(b.source.get_range_tracker(b.start_position, b.stop_position)))
        )
        config = job_config(resources, input_subscription=None, input_file=str(path))
        dead_letters, _ = write_rows(parse_and_validate(records, parse_csv_line), config)
        dead_letters | PublishDeadLetters(config.dead_letter_topic)
        pipeline.run().wait_until_finish()
        letters = pull_dead_letters(resources, 9, timeout=30)
        results[ranges] = (
            len(bundles),
            table_digest(resources.table),
            sorted((m.data, m.attributes[SOURCE_OFFSET], m.attributes["error_reason"]) for m in letters),
        )
    assert results["many"][0] > 50 and results["one"][0] == 1
    assert results["many"][1] == results["one"][1] and results["one"][1][0] == 300
    assert results["many"][2] == results["one"][2] and len(results["one"][2]) == 9


def test_a_compressed_file_gives_the_same_table_and_dead_letters_as_the_plain_one(emulators, unique, tmp_path):
    """``sales.csv``, ``sales.csv.gz``, ``.bz2`` and ``.zst`` (Beam's detection by extension), each
    loaded into a table of its own: the same sha256 over every key, cell and timestamp (ids count
    byte offsets in the uncompressed stream, and the path without its compression suffix), and the
    same dead letters at the same offsets."""
    import bz2
    import gzip

    import zstandard

    lines = [HEADER] + [GOOD[i % 4].replace("12de933f", f"u{i:07d}") for i in range(200)] + list(BAD)
    content = ("\r\n".join(lines) + "\n").encode()
    compressors: dict[str, Callable[[bytes], bytes]] = {
        "": bytes,
        ".gz": gzip.compress,
        ".bz2": bz2.compress,
        ".zst": zstandard.compress,
    }
    results = {}
    for suffix, compress in compressors.items():
        path = tmp_path / f"sales.csv{suffix}"
        path.write_bytes(compress(content))
        resources = provision_for_test(f"{unique}{suffix.strip('.')}")
        assert main(backfill_args(resources, str(path))) == 0, suffix
        letters = pull_dead_letters(resources, len(BAD), timeout=30)
        results[suffix] = (
            table_digest(resources.table),
            sorted((m.data, m.attributes[SOURCE_OFFSET], m.attributes["error_reason"]) for m in letters),
        )
    plain = results[""]
    assert plain[0][0] == 200 and len(plain[1]) == len(BAD)
    for suffix in (".gz", ".bz2", ".zst"):
        assert results[suffix] == plain, suffix
