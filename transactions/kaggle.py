"""The Kaggle "E-Commerce Dataset" CSV format, and a reader of it, row by row, with line numbers.

The header has spaces and units in it (``Price (Rs.)``), dates are ``dd-mm-yyyy``, prices drop
trailing zeros (``332``, ``244.8``), and every ID must be read as a string (``02428050`` keeps
its zero; ``98857e41`` is not a number). The reader tolerates a UTF-8 BOM, CRLF endings and
stray whitespace. A row that cannot be used is reported as a :class:`BadRow` naming its line,
and the reader goes on. The producer replays files with it; the backfill parses lines with
:func:`parse_row` and checks headers with :func:`check_header`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from transactions.excerpt import excerpt, path_line

HEADER = (
    "User_ID",
    "Product_ID",
    "Category",
    "Price (Rs.)",
    "Discount (%)",
    "Final_Price(Rs.)",
    "Payment_Method",
    "Purchase_Date",
)
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_DD_MM_YYYY = re.compile(r"(\d{2})-(\d{2})-(\d{4})")


class UnusableInput(Exception):
    """The file cannot be replayed at all (missing, unreadable, wrong header)."""


class SaleRow(NamedTuple):
    """One usable CSV row (a tuple: this is built once per message, so it must be cheap)."""

    position: int
    """Where the record is: its line number (:func:`read_rows`, the producer's reader) or its
    byte offset in the file (a backfill's split source)."""
    user_id: str
    product_id: str
    category: str
    price: str
    discount: int | float
    final_price: str
    payment_method: str
    purchase_date: str  # ISO


class BadRow(NamedTuple):
    position: int
    """As :attr:`SaleRow.position`."""
    problem: str


MAX_HEADER_BYTES = 64 * 1024
"""At most this much of a file is read to check its header (the real one is about 100 bytes)."""
COMPRESSED_MAGIC = (
    (b"\x1f\x8b", "gzip", ".gz"),
    (b"BZh", "bzip2", ".bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd", ".zst"),
    (b"\xfd7zXZ\x00", "xz", ".xz"),
    (b"PK\x03\x04", "zip", None),
)
"""Magic bytes of compressed files: a compressed file read as text is named as such, not as a
header full of binary noise."""


def check_header(where: str, first_line: bytes) -> None:
    """Raise :class:`UnusableInput` unless ``first_line`` (raw bytes, as read) is the Kaggle header.

    The one header check, for the producer, the backfill and its launch check: strict UTF-8 (a
    BOM allowed), names stripped of spaces, and a compressed file recognised by its magic bytes.
    What was found is quoted as a bounded, escaped excerpt.
    """
    if not first_line:
        raise UnusableInput(f"{where}: empty file (expected the Kaggle header: {','.join(HEADER)})")
    for magic, kind, suffix in COMPRESSED_MAGIC:
        if first_line.startswith(magic):
            advice = f"a backfill reads it compressed when it is named *{suffix}" if suffix else "unpack it first"
            raise UnusableInput(f"{where}: looks {kind}-compressed, not a CSV file; {advice}")
    try:
        fields = split_fields(first_line.decode("utf-8-sig").rstrip("\r\n"))
    except (UnicodeDecodeError, csv.Error):
        fields = None
    found = tuple(name.strip() for name in fields or ())
    if found != HEADER:
        shown = excerpt(first_line.rstrip(b"\r\n"))
        raise UnusableInput(f"{where}: unrecognised header; expected {','.join(HEADER)}, found {shown}")


def split_fields(text: str) -> list[str]:
    """The fields of one CSV line; the csv module only for a line with quotes (rare in this data,
    and a quoted field never spans lines in this format)."""
    return text.split(",") if '"' not in text else next(csv.reader([text]))


def read_rows(path: Path, start_line: int = 2) -> Iterator[SaleRow | BadRow]:
    """Rows from ``start_line`` on (line 1 is the header); raises :class:`UnusableInput`.

    Each line is decoded on its own, so a line that is not UTF-8 is that line's :class:`BadRow`
    and the reader goes on.
    """
    where = path_line(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise UnusableInput(f"{where}: no such file") from None
    except OSError as error:
        raise UnusableInput(f"{where}: {error.strerror}") from None
    with handle:
        check_header(where, handle.readline(MAX_HEADER_BYTES))
        for line_number, raw in enumerate(handle, start=2):
            if line_number < start_line:
                continue
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
                fields = split_fields(text)
            except (csv.Error, UnicodeDecodeError) as error:
                yield BadRow(line_number, f"unreadable: {error}")
                continue
            if not text.strip():
                continue  # a blank line
            yield parse_row(line_number, fields)


def parse_row(position: int, fields: list[str]) -> SaleRow | BadRow:
    """One CSV record as a :class:`SaleRow`, or a :class:`BadRow` that names the problem;
    ``position`` is where the record is: a line number or a byte offset (:attr:`SaleRow.position`).

    The checks are ordered so that a good row (nearly every row) costs a few cheap tests;
    the per-field messages are only worked out for a bad one.
    """
    if len(fields) != len(HEADER):
        return BadRow(position, f"expected {len(HEADER)} columns, found {len(fields)}")
    user, product, category, price, discount, final, payment, when = [f.strip() for f in fields]
    if not (user and product and category and payment):
        for name, value in (
            ("User_ID", user),
            ("Product_ID", product),
            ("Category", category),
            ("Payment_Method", payment),
        ):
            if not value:
                return BadRow(position, f"empty {name}")
    number = _PLAIN_NUMBER.fullmatch
    if not (number(price) and number(final) and number(discount)):
        for name, value in (("Price (Rs.)", price), ("Final_Price(Rs.)", final), ("Discount (%)", discount)):
            if not number(value):
                return BadRow(position, f"{name} is not a number: {excerpt(value)}")
    iso_date = _iso_date(when)
    if iso_date is None:
        return BadRow(position, f"Purchase_Date is not dd-mm-yyyy: {excerpt(when)}")
    return SaleRow(position, user, product, category, price, _discount(discount), final, payment, iso_date)


@lru_cache(maxsize=1024)
def _discount(text: str) -> int | float:
    """``25`` -> 25, ``12.5`` -> 12.5 (a JSON number, as the contract wants); cached."""
    value = float(text)
    return int(value) if value.is_integer() else value


@lru_cache(maxsize=8192)
def _iso_date(text: str) -> str | None:
    """``dd-mm-yyyy`` -> ``yyyy-mm-dd``, or None; cached, since a file has few distinct dates."""
    match = _DD_MM_YYYY.fullmatch(text)
    if match is None:
        return None
    day, month, year = match.groups()
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def count_data_lines(path: Path) -> int:
    """Data lines in the file (for the progress bar); cheap, no parsing."""
    with path.open("rb") as handle:
        return max(0, sum(1 for line in handle if line.strip()) - 1)
