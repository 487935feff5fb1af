"""A CSV line of the Kaggle format becomes the same transaction a Pub/Sub message would."""

import pytest

from transactions.attributes import SOURCE_FILE, SOURCE_OFFSET
from transactions.contract import MAX_MESSAGE_BYTES, InvalidMessage, Transaction
from transactions.messages import file_digest
from transactions_pipeline.backfill import SourceLine, parse_csv_line

PATH = "gs://my-bucket/sales/2024.csv"


def line(text: str | bytes, number: int = 7) -> SourceLine:
    data = text.encode() if isinstance(text, str) else text
    return SourceLine(data, {SOURCE_FILE: PATH, SOURCE_OFFSET: str(number)})


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
        final_price_cents=24233,
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


HEADER = "User_ID,Product_ID,Category,Price (Rs.),Discount (%),Final_Price(Rs.),Payment_Method,Purchase_Date"
ROWS = [f"u{i},p{i},Books,{i}.5,0,{i}.5,UPI,0{i % 9 + 1}-02-2024" for i in range(12)]


def write_csv(tmp_path, text: bytes, name: str = "sales.csv"):
    path = tmp_path / name
    path.write_bytes(text)
    return str(path)


def read_range(path: str, start: int, stop: int) -> list[SourceLine]:
    from apache_beam.io.range_trackers import OffsetRangeTracker

    from transactions_pipeline.backfill import KaggleCsvSource

    return list(KaggleCsvSource(path).read_records(path, OffsetRangeTracker(start, stop)))


FILES = {
    "plain": (HEADER + "\n" + "\n".join(ROWS) + "\n").encode(),
    "crlf, BOM, blank line, no final newline": (
        "\ufeff" + HEADER + "\r\n" + "\r\n".join(ROWS[:5]) + "\r\n\r\n" + "\r\n".join(ROWS[5:])
    ).encode(),
    "quoted field with a comma": (
        HEADER + '\nu1,p1,"Home, Kitchen",10,0,10,UPI,01-02-2024\n' + "\n".join(ROWS)
    ).encode(),
}


@pytest.mark.parametrize("name", FILES)
def test_every_split_point_gives_each_line_to_exactly_one_range(tmp_path, name):
    """Two ranges [0, k) and [k, end) for every k: lines exactly at k, inside the header, at the end."""
    path = write_csv(tmp_path, FILES[name])
    size = len(FILES[name])
    whole = read_range(path, 0, size)
    assert len(whole) == len(ROWS) + (name == "quoted field with a comma")
    for k in range(size + 1):
        assert read_range(path, 0, k) + read_range(path, k, size) == whole, f"split at byte {k}"


def test_offsets_point_at_the_lines_and_blank_lines_are_skipped(tmp_path):
    text = FILES["crlf, BOM, blank line, no final newline"]
    path = write_csv(tmp_path, text)
    lines = read_range(path, 0, len(text))
    assert [line.data.decode() for line in lines] == ROWS
    for line in lines:
        offset = int(line.attributes[SOURCE_OFFSET])
        assert text[offset:].split(b"\r\n", 1)[0] == line.data
        assert line.attributes[SOURCE_FILE] == path


def test_beams_own_split_into_many_ranges_reads_the_same_lines_as_one(tmp_path):
    from transactions_pipeline.backfill import KaggleCsvSource

    path = write_csv(tmp_path, (HEADER + "\n" + "\n".join(ROWS * 50) + "\n").encode())
    bundles = list(KaggleCsvSource(path).split(desired_bundle_size=97))
    assert len(bundles) > 100
    many = [
        line
        for bundle in bundles
        for line in bundle.source.read(bundle.source.get_range_tracker(bundle.start_position, bundle.stop_position))
    ]
    [whole] = list(KaggleCsvSource(path).split(desired_bundle_size=1 << 30))
    one = list(whole.source.read(whole.source.get_range_tracker(whole.start_position, whole.stop_position)))
    assert many == one and len(one) == 600


def test_a_file_of_another_format_stops_the_read(tmp_path):
    from transactions.kaggle import UnusableInput

    path = write_csv(tmp_path, b"id,name\n1,x\n")
    with pytest.raises(UnusableInput, match="unrecognised header"):
        read_range(path, 0, 100)
