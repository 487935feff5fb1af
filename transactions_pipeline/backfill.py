"""Batch backfill: Kaggle-format CSV files (``gs://``, or a local path locally; glob allowed), read in
byte ranges that the runner spreads over its workers.

A backfill goes through the same validation, row layout, writer and dead letters as the stream;
only the source differs. :class:`KaggleCsvSource` is a Beam ``FileBasedSource``: Beam splits each
file into byte ranges and tracks them with its ``OffsetRangeTracker``, exactly as ``ReadFromText``
does, so no worker reads a whole file and no line crosses a shuffle. The rule that makes ranges
exact is ``textio``'s: a line belongs to the range in which it *starts*; a range that does not
start a file begins one byte early and skips the rest of the line it lands in.

A compressed file (``.gz``, ``.bz2``, ``.zst``, ``.deflate``, ``.xz``: Beam's
``CompressionTypes.AUTO``, by extension, as ``ReadFromText`` does) cannot be split: one worker
reads it whole, and byte offsets count in its uncompressed stream. Split large archives into
several files to spread them over workers.

Each line becomes a :class:`SourceLine` whose ``data`` is the line's original bytes and whose
attributes name the file and the line's byte offset, so a rejected line's dead letter says where
it is, the same however the file was split. Ids and times come from the file, never the clock
(:mod:`transactions.messages`): ``csv-<hash of the path>:<byte offset>`` and the purchase date at
00:00 UTC, so running the same backfill twice rewrites the very same cells.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

import apache_beam as beam
from apache_beam.io.filebasedsource import FileBasedSource
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.iobase import RangeTracker

from transactions.attributes import SOURCE_FILE, SOURCE_OFFSET
from transactions.contract import MAX_MESSAGE_BYTES, InvalidMessage, Transaction, validate_record
from transactions.dead_letters import BAD_CSV_ROW
from transactions.excerpt import path_line
from transactions.kaggle import MAX_HEADER_BYTES, SaleRow, check_header, parse_row, split_fields
from transactions.messages import backfill_event_time, backfill_transaction_id, to_record
from transactions_pipeline.rows import SourceMessage

_LOG = logging.getLogger(__name__)


class SourceLine(NamedTuple):
    """One CSV data line, shaped like a Pub/Sub message (``data`` + ``attributes``)."""

    data: bytes
    attributes: dict[str, str]


class KaggleCsvSource(FileBasedSource):
    """The data lines of Kaggle-format CSV files, split by byte ranges.

    The header is read by the range that starts the file, and checked: a file of another
    format stops the job (the launch has checked the first ones already). Blank lines are
    skipped; CRLF endings, a UTF-8 BOM and a last line without a newline are fine.
    """

    def __init__(self, pattern: str, min_bundle_size: int = 0) -> None:
        super().__init__(
            pattern,
            min_bundle_size=min_bundle_size,
            compression_type=CompressionTypes.AUTO,  # by extension, as ReadFromText does
            splittable=True,  # Beam reads a compressed file whole, in one range
            validate=False,  # the launch checks the pattern, with a clearer message
        )

    def read_records(self, file_name: str, range_tracker: RangeTracker) -> Iterator[SourceLine]:
        start = range_tracker.start_position()
        where = path_line(file_name)
        _LOG.info("reading bytes [%d, %d) of %s in process %d", start, range_tracker.stop_position(), where,
                  os.getpid())  # fmt: skip
        with self.open_file(file_name) as handle:  # decompressed when the name says so
            if start == 0:
                header = first_line(handle)
                if not range_tracker.try_claim(0):
                    return
                check_header(where, header)
                position = len(header)
            else:  # one byte back: a line starting exactly at ``start`` is ours
                handle.seek(start - 1)
                position = start - 1 + len(handle.readline())
            attributes = {SOURCE_FILE: file_name}
            while line := handle.readline():
                if not range_tracker.try_claim(position):
                    return
                body = line.rstrip(b"\r\n")
                if body.strip():
                    yield SourceLine(body, {**attributes, SOURCE_OFFSET: str(position)})
                position += len(line)


def first_line(handle: BinaryIO) -> bytes:
    """A file's first line, at most ``MAX_HEADER_BYTES`` of it where the reader can stop early (a
    plain file; Beam's decompressing reader returns whole lines only)."""
    try:
        return handle.readline(MAX_HEADER_BYTES)
    except TypeError:
        return handle.readline()


class ReadCsvLines(beam.PTransform):
    """Every data line of every file matching ``pattern``, as :class:`SourceLine` records."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self._pattern = pattern

    def expand(self, pipeline: beam.pvalue.PBegin) -> beam.PCollection[SourceLine]:
        return pipeline | "ReadLines" >> beam.io.Read(KaggleCsvSource(self._pattern))


def parse_csv_line(line: SourceMessage) -> Transaction:
    """Validate one CSV line as contract v1; raise :class:`InvalidMessage` if it breaks it.

    Column-level problems (column count, a price that is not a number, a date that is not
    dd-mm-yyyy) are ``parse``/``bad_csv_row``; everything else is contract v1's own check,
    with its own reasons, exactly as for a Pub/Sub message.
    """
    if len(line.data) > MAX_MESSAGE_BYTES:
        raise InvalidMessage("parse", "too_large", f"line is {len(line.data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    offset = int(line.attributes[SOURCE_OFFSET])
    try:
        fields = split_fields(line.data.decode())
    except (UnicodeDecodeError, csv.Error) as error:
        raise InvalidMessage("parse", BAD_CSV_ROW, f"unreadable line: {error}") from None
    sale = parse_row(offset, fields)
    if not isinstance(sale, SaleRow):
        raise InvalidMessage("parse", BAD_CSV_ROW, sale.problem)
    transaction_id = backfill_transaction_id(line.attributes[SOURCE_FILE], offset)
    return validate_record(to_record(sale, transaction_id, backfill_event_time(sale.purchase_date)))
