"""The data every benchmark runs on: deterministic, in the Kaggle format and contract v1."""

from __future__ import annotations

import csv
import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

from transactions.kaggle import HEADER, SaleRow, parse_row
from transactions.messages import Message, to_message

ROOT = Path(__file__).resolve().parents[1]
BASE_TIME = datetime(2025, 12, 5, 21, 13, 52, 76000, tzinfo=UTC)
SEED = 20241127


def _make_sample():
    spec = importlib.util.spec_from_file_location("make_sample", ROOT / "data" / "make_sample.py")
    assert spec is not None and spec.loader is not None, "data/make_sample.py is missing"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def csv_rows(count: int) -> list[list[str]]:
    """``count`` synthetic rows in the Kaggle format (data/make_sample.py, fixed seed)."""
    return _make_sample().make_rows(SEED, count)


def write_csv(path: Path, count: int) -> Path:
    sample = _make_sample()
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(sample.make_rows(SEED, count))
    return path


def messages(count: int) -> list[Message]:
    """``count`` valid contract-v1 messages, one millisecond apart, as the producer makes them."""
    result = []
    for index, fields in enumerate(csv_rows(count)):
        row = parse_row(index + 2, fields)
        assert isinstance(row, SaleRow), row
        result.append(to_message(row, f"bench:0:{index + 2}", BASE_TIME + timedelta(milliseconds=index)))
    return result
