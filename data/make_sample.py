"""Make data/sample_transactions.csv: synthetic rows in exactly the Kaggle file's format.

The real "E-Commerce Dataset" (ecommerce_dataset_updated.csv) is CC BY-NC-SA 4.0 and is not
committed; this file stands in for it with the same header, 3,660 rows, the same seven
categories, five payment methods and discount set, 2024 dates as dd-mm-yyyy, prices without
trailing zeros, and user ids that look numeric but are not (leading zeros, ``98857e41``).

    .venv/bin/python data/make_sample.py   # rewrites data/sample_transactions.csv (seed 20240101)
"""

import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

from transactions.kaggle import HEADER

CATEGORIES = ["Electronics", "Clothing", "Sports", "Toys", "Home & Kitchen", "Beauty", "Books"]
PAYMENT_METHODS = ["Credit Card", "Debit Card", "Net Banking", "UPI", "Cash on Delivery"]
DISCOUNTS = [0, 5, 10, 15, 20, 25, 30, 50]
ROWS = 3660
SEED = 20240101


def money(value: float) -> str:
    """Like the Kaggle file: no trailing zeros (``332``, ``244.8``, ``19.99``)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def make_rows(seed: int = SEED, count: int = ROWS) -> list[list[str]]:
    rng = random.Random(seed)
    users = [f"{rng.randrange(16**8):08x}" for _ in range(600)]
    users[::7] = [f"{rng.randrange(10**8):08d}" for _ in users[::7]]  # digits only, some leading zeros
    users[:3] = ["02428050", "98857e41", "00731999"]
    rows = []
    for _ in range(count):
        price = round(rng.uniform(5, 500), rng.choice([0, 1, 2]))
        discount = rng.choice(DISCOUNTS)
        final = round(price * (1 - discount / 100), 2)
        day = date(2024, 1, 1) + timedelta(days=rng.randrange(366))
        rows.append(
            [
                rng.choice(users),
                f"{rng.randrange(16**8):08x}",
                rng.choice(CATEGORIES),
                money(price),
                str(discount),
                money(final),
                rng.choice(PAYMENT_METHODS),
                day.strftime("%d-%m-%Y"),
            ]
        )
    return rows


def main(path: str = str(Path(__file__).with_name("sample_transactions.csv"))) -> int:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(make_rows())
    print(f"wrote {ROWS} rows to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
