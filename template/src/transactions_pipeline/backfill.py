"""Batch backfill: the Kaggle CSV (local path or ``gs://``, glob allowed) as a source of rows.

A backfill goes through the same validation, row layout, writer and dead letters as the
stream; only the source differs. Each CSV line becomes a :class:`SourceLine` whose ``data`` is
the line's original bytes and whose attributes name the file and the line, so a rejected
line's dead letter can be found, fixed and replayed like a rejected message.

Ids and times are derived from the file, never from the clock (:mod:`transactions.messages`),
so running the same backfill twice rewrites the very same cells.

One file is read by one worker, line by line (the Kaggle format has no quoted line breaks);
the lines are then redistributed, in chunks of ``LINES_PER_CHUNK``, so that parsing and
writing spread over all workers without a shuffle cost per line.
"""

from __future__ import annotations

import csv
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io import fileio

from transactions.attributes import SOURCE_FILE, SOURCE_LINE
from transactions.contract import MAX_MESSAGE_BYTES, InvalidMessage, Transaction, validate_record
from transactions.dead_letters import BAD_CSV_ROW
from transactions.kaggle import SaleRow, check_header, parse_row
from transactions.messages import backfill_event_time, backfill_transaction_id, to_record


class SourceLine(NamedTuple):
    """One CSV data line, shaped like a Pub/Sub message (``data`` + ``attributes``)."""

    data: bytes
    attributes: dict[str, str]


LINES_PER_CHUNK = 1000
"""Lines move between workers in chunks: one shuffle element per chunk, not per line."""


Chunk = tuple[str, list[tuple[int, bytes]]]
"""(file path, [(line number, line bytes), ...]): plain values, which Beam encodes cheaply."""


class _ReadCsvLinesFn(beam.DoFn):
    """A matched file -> chunks of its data lines, with their 1-based line numbers."""

    def process(self, readable: fileio.ReadableFile):
        path = readable.metadata.path
        chunk: list[tuple[int, bytes]] = []
        for numbered in self._lines(readable, path):
            chunk.append(numbered)
            if len(chunk) >= LINES_PER_CHUNK:
                yield path, chunk
                chunk = []
        if chunk:
            yield path, chunk

    @staticmethod
    def _lines(readable: fileio.ReadableFile, path: str):
        with readable.open(compression_type=None) as raw:
            # Not the Kaggle format: the backfill stops (UnusableInput) instead of guessing.
            check_header(path, next(csv.reader([raw.readline().decode("utf-8-sig", errors="replace")]), None))
            # Bytes, not text: a line that is not UTF-8 becomes that line's dead letter.
            for number, line in enumerate(raw, start=2):
                body = line.rstrip(b"\r\n")
                if body.strip():
                    yield number, body


def source_lines(chunk: Chunk) -> list[SourceLine]:
    """A chunk's lines as :class:`SourceLine` records, shaped like Pub/Sub messages."""
    path, lines = chunk
    return [SourceLine(body, {SOURCE_FILE: path, SOURCE_LINE: str(number)}) for number, body in lines]


class ReadCsvLines(beam.PTransform):
    """Every data line of every file matching ``pattern``; an empty match fails the job."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self._pattern = pattern

    def expand(self, pipeline):
        return (
            pipeline
            | "MatchFiles" >> fileio.MatchFiles(self._pattern, fileio.EmptyMatchTreatment.DISALLOW)
            | "OpenFiles" >> fileio.ReadMatches()
            | "ReadLines" >> beam.ParDo(_ReadCsvLinesFn())
            | "Redistribute" >> beam.Reshuffle()
            | "Unchunk" >> beam.FlatMap(source_lines)
        )


def parse_csv_line(line: SourceLine) -> Transaction:
    """Validate one CSV line as contract v1; raise :class:`InvalidMessage` if it breaks it.

    Column-level problems (column count, a price that is not a number, a date that is not
    dd-mm-yyyy) are ``parse``/``bad_csv_row``; everything else is contract v1's own check,
    with its own reasons, exactly as for a Pub/Sub message.
    """
    if len(line.data) > MAX_MESSAGE_BYTES:
        raise InvalidMessage("parse", "too_large", f"line is {len(line.data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    number = int(line.attributes[SOURCE_LINE])
    try:
        fields = next(csv.reader([line.data.decode()]))
    except (UnicodeDecodeError, csv.Error) as error:
        raise InvalidMessage("parse", BAD_CSV_ROW, f"unreadable line: {error}") from None
    sale = parse_row(number, fields)
    if not isinstance(sale, SaleRow):
        raise InvalidMessage("parse", BAD_CSV_ROW, sale.problem)
    transaction_id = backfill_transaction_id(line.attributes[SOURCE_FILE], number)
    return validate_record(to_record(sale, transaction_id, backfill_event_time(sale.purchase_date)))
