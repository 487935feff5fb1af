"""Read the Kaggle "E-Commerce Dataset" CSV format, row by row, with line numbers.

Every ID is read as a string (``02428050`` keeps its zero; ``98857e41`` is not a number).
Tolerates a UTF-8 BOM, CRLF endings and stray whitespace. A row that cannot be used is
reported as a :class:`BadRow` naming its line, and the reader goes on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

EXPECTED_HEADER = (
    "User_ID", "Product_ID", "Category", "Price (Rs.)", "Discount (%)", "Final_Price(Rs.)",
    "Payment_Method", "Purchase_Date",
)  # fmt: skip
_NUMBER_CHARS = set("0123456789.")


class UnusableInput(Exception):
    """The file cannot be replayed at all (missing, unreadable, wrong header)."""


@dataclass(frozen=True)
class SaleRow:
    line: int
    user_id: str
    product_id: str
    category: str
    price: str
    discount: int | float
    final_price: str
    payment_method: str
    purchase_date: str  # ISO


@dataclass(frozen=True)
class BadRow:
    line: int
    problem: str


def read_rows(path: Path, start_line: int = 2) -> Iterator[SaleRow | BadRow]:
    """Rows from ``start_line`` on (line 1 is the header); raises :class:`UnusableInput`."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise UnusableInput(f"{path}: no such file") from None
    except OSError as error:
        raise UnusableInput(f"{path}: {error.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as error:
            raise UnusableInput(f"{path}: not a readable CSV file ({error})") from None
        found = tuple(name.strip() for name in header or ())
        if found != EXPECTED_HEADER:
            raise UnusableInput(
                f"{path}: unrecognised header.\n  expected: {','.join(EXPECTED_HEADER)}\n"
                f"  found:    {','.join(found) if found else '(empty file)'}"
            )
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as error:
                yield BadRow(reader.line_num, f"unreadable: {error}")
                continue
            line = reader.line_num
            if line < start_line or not any(field.strip() for field in fields):
                continue
            yield parse_row(line, fields)


def parse_row(line: int, fields: list[str]) -> SaleRow | BadRow:
    if len(fields) != len(EXPECTED_HEADER):
        return BadRow(line, f"expected {len(EXPECTED_HEADER)} columns, found {len(fields)}")
    user, product, category, price, discount, final, payment, when = (f.strip() for f in fields)
    for name, value in (("User_ID", user), ("Product_ID", product), ("Category", category),
                        ("Payment_Method", payment)):  # fmt: skip
        if not value:
            return BadRow(line, f"empty {name}")
    for name, value in (("Price (Rs.)", price), ("Final_Price(Rs.)", final), ("Discount (%)", discount)):
        if not _is_plain_number(value):
            return BadRow(line, f"{name} is not a number: {value!r}")
    try:
        iso_date = datetime.strptime(when, "%d-%m-%Y").date().isoformat()
    except ValueError:
        return BadRow(line, f"Purchase_Date is not dd-mm-yyyy: {when!r}")
    discount_number = float(discount)
    return SaleRow(
        line, user, product, category, price,
        int(discount_number) if discount_number.is_integer() else discount_number,
        final, payment, iso_date,
    )  # fmt: skip


def _is_plain_number(text: str) -> bool:
    return bool(text) and set(text) <= _NUMBER_CHARS and text.count(".") <= 1 and text != "."


def count_data_lines(path: Path) -> int:
    """Data lines in the file (for the progress bar); cheap, no parsing."""
    with path.open("rb") as handle:
        return max(0, sum(1 for line in handle if line.strip()) - 1)
