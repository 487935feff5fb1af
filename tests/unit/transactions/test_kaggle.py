"""Reading the Kaggle "E-Commerce Dataset" CSV format: ids as text, BOM, CRLF, bad rows by line."""

import pytest

from transactions.kaggle import BadRow, SaleRow, UnusableInput, read_rows

HEADER = "User_ID,Product_ID,Category,Price (Rs.),Discount (%),Final_Price(Rs.),Payment_Method,Purchase_Date"


def write(tmp_path, text: str, name="sales.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_kaggle_format_with_bom_crlf_and_whitespace(tmp_path):
    path = write(
        tmp_path,
        "\ufeff" + HEADER.replace(",", " , ") + "\r\n"
        " 02428050 ,P1,Books,332,10,298.8,UPI,05-12-2024\r\n"
        "98857e41,P2,Sports,244.8,15,208.08,Credit Card,29-02-2024\r\n",
    )
    assert list(read_rows(path)) == [
        SaleRow(2, "02428050", "P1", "Books", "332", 10, "298.8", "UPI", "2024-12-05"),
        SaleRow(3, "98857e41", "P2", "Sports", "244.8", 15, "208.08", "Credit Card", "2024-02-29"),
    ]


def test_bad_rows_are_reported_with_their_line(tmp_path):
    path = write(
        tmp_path,
        HEADER + "\n"
        "u1,P1,Books,abc,10,1,UPI,05-12-2024\n"
        "u2,P2,Books,10,0,10,UPI,2024-12-05\n"
        "u3,P3,Books,10,0\n"
        "u4,P4,Books,10,0,10,UPI,31-12-2024\n",
    )
    items = list(read_rows(path))
    assert [(i.position, type(i).__name__) for i in items] == [
        (2, "BadRow"),
        (3, "BadRow"),
        (4, "BadRow"),
        (5, "SaleRow"),
    ]
    assert items[0] == BadRow(2, "Price (Rs.) is not a number: 'abc'")
    assert items[1] == BadRow(3, "Purchase_Date is not dd-mm-yyyy: '2024-12-05'")
    assert items[2] == BadRow(4, "expected 8 columns, found 5")


def test_unknown_header_shows_expected_and_found(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n")
    with pytest.raises(UnusableInput, match=r"unrecognised header; expected User_ID,Product_ID.*, found 'a,b,c'$"):
        list(read_rows(path))


def test_start_line_skips_earlier_lines(tmp_path):
    path = write(tmp_path, HEADER + "\n" + "".join(f"u{i},P{i},Books,10,0,10,UPI,01-01-2024\n" for i in range(5)))
    assert [r.position for r in read_rows(path, start_line=4)] == [4, 5, 6]


def test_the_header_is_the_kaggle_files_own():
    from transactions.kaggle import HEADER as KAGGLE_HEADER

    assert ",".join(KAGGLE_HEADER) == HEADER


def test_a_quoted_line_is_read_by_the_csv_module_and_a_plain_one_by_split():
    from transactions.kaggle import split_fields

    assert split_fields('u1,p1,"Home, Kitchen",10') == ["u1", "p1", "Home, Kitchen", "10"]
    assert split_fields("u1,p1,Books,10") == ["u1", "p1", "Books", "10"]


def test_a_line_that_is_not_utf8_is_that_lines_bad_row_and_the_reader_goes_on(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_bytes(
        (HEADER + "\n").encode() + b"u1,P1,Bo\xffks,10,0,10,UPI,01-01-2024\n" + b"u2,P2,Books,10,0,10,UPI,01-01-2024\n"
    )
    items = list(read_rows(path))
    assert [type(i).__name__ for i in items] == ["BadRow", "SaleRow"]
    bad = items[0]
    assert isinstance(bad, BadRow) and bad.position == 2 and bad.problem.startswith("unreadable:")
