"""A CSV line of the Kaggle format becomes the same transaction a Pub/Sub message would."""

import pytest

from transactions.attributes import SOURCE_FILE, SOURCE_LINE
from transactions.contract import MAX_MESSAGE_BYTES, InvalidMessage, Transaction
from transactions.messages import file_digest
from transactions_pipeline.backfill import SourceLine, parse_csv_line

PATH = "gs://my-bucket/sales/2024.csv"


def line(text: str | bytes, number: int = 7) -> SourceLine:
    data = text.encode() if isinstance(text, str) else text
    return SourceLine(data, {SOURCE_FILE: PATH, SOURCE_LINE: str(number)})


def test_a_good_line_keeps_ids_as_text_and_takes_its_ids_and_time_from_the_file():
    transaction = parse_csv_line(line(" 02428050 ,45a95ff7,Sports,323.1,25,242.33,Credit Card,12-04-2024\r"))
    assert transaction == Transaction(
        transaction_id=f"csv-{file_digest(PATH)}:7",
        user_id="02428050",
        product_id="45a95ff7",
        category="Sports",
        price="323.10",
        discount="25",
        final_price="242.33",
        payment_method="Credit Card",
        purchase_date="2024-04-12",
        event_time_ms=1712880000000,  # 2024-04-12T00:00:00.000Z
    )
    assert len(file_digest(PATH)) == 12 and file_digest(PATH) != file_digest(PATH + "x")


@pytest.mark.parametrize(
    ("text", "stage", "reason", "detail"),
    [
        ("a,b,Sports,1,0,1,Cash", "parse", "bad_csv_row", "expected 8 columns, found 7"),
        ("a,b,Sports,1,0,1,Cash,31-02-2024", "parse", "bad_csv_row", "Purchase_Date is not dd-mm-yyyy: '31-02-2024'"),
        ("a,b,Sports,1e3,0,1,Cash,01-02-2024", "parse", "bad_csv_row", "Price (Rs.) is not a number: '1e3'"),
        (",b,Sports,1,0,1,Cash,01-02-2024", "parse", "bad_csv_row", "empty User_ID"),
        (b"a,b,Sp\xffrts,1,0,1,Cash,01-02-2024", "parse", "bad_csv_row", None),
        ("a,b,Sports,100,10,50,Cash,01-02-2024", "validate", "final_price_mismatch", None),
        ("a,b,Sports,100,150,0,Cash,01-02-2024", "validate", "bad_discount", None),
        ("a#1,b,Sports,100,0,100,Cash,01-02-2024", "validate", "bad_user_id", None),
        ("x" * (MAX_MESSAGE_BYTES + 1), "parse", "too_large", None),
    ],
)
def test_bad_lines_are_rejected_with_stage_and_reason(text, stage, reason, detail):
    with pytest.raises(InvalidMessage) as caught:
        parse_csv_line(line(text))
    assert (caught.value.stage, caught.value.reason) == (stage, reason)
    if detail is not None:
        assert caught.value.detail == detail


def test_files_are_read_in_chunks_of_numbered_lines_and_blank_lines_are_skipped(tmp_path):
    from apache_beam.io.fileio import ReadableFile
    from apache_beam.io.filesystem import FileMetadata

    from transactions_pipeline.backfill import LINES_PER_CHUNK, _ReadCsvLinesFn, source_lines

    header = "User_ID,Product_ID,Category,Price (Rs.),Discount (%),Final_Price(Rs.),Payment_Method,Purchase_Date"
    lines = [f"u{i},p,c,1,0,1,Cash,01-02-2024" for i in range(2 * LINES_PER_CHUNK + 500)]
    path = tmp_path / "sales.csv"
    path.write_bytes(
        ("\ufeff" + header + "\r\n" + "\r\n".join(lines[:10]) + "\r\n\r\n" + "\r\n".join(lines[10:]) + "\r\n").encode()
    )
    chunks = list(_ReadCsvLinesFn().process(ReadableFile(FileMetadata(str(path), path.stat().st_size))))
    assert [len(numbered) for _, numbered in chunks] == [LINES_PER_CHUNK, LINES_PER_CHUNK, 500]
    read = [line for chunk in chunks for line in source_lines(chunk)]
    assert [line.data.decode() for line in read] == lines
    assert [int(line.attributes[SOURCE_LINE]) for line in read[9:12]] == [11, 13, 14]  # line 12 is blank
    assert {line.attributes[SOURCE_FILE] for line in read} == {str(path)}
