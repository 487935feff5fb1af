"""Every Pub/Sub message attribute the system reads or writes, named once.

A message carries ``transaction_id`` and ``event_time`` next to its JSON body, so a runner can
deduplicate and an operator can filter without parsing it. A dead letter adds the ``error_*``
attributes and ``failed_at``; a backfill line carries its file and byte offset; a replay counts itself.
"""

TRANSACTION_ID = "transaction_id"
EVENT_TIME = "event_time"

ERROR_STAGE = "error_stage"
ERROR_REASON = "error_reason"
ERROR_DETAIL = "error_detail"
FAILED_AT = "failed_at"
DATA_TRUNCATED_FROM = "error_data_truncated_from"
DATA_SHA256 = "error_data_sha256"
DEAD_LETTER_ATTRIBUTES = (ERROR_STAGE, ERROR_REASON, ERROR_DETAIL, FAILED_AT, DATA_TRUNCATED_FROM, DATA_SHA256)
"""What the pipeline adds to a message it could not write; a replay takes them off again."""

SOURCE_FILE = "source_file"
SOURCE_OFFSET = "source_offset"
"""The byte offset at which a backfill line starts in its file (``tail -c +$((offset + 1)) FILE | head -1``)."""

REPLAY_COUNT = "replay_count"

ROLLUP = "rollup"
"""On a rollup's dead letter (``category_minute`` or ``user_day``): a total, not a transaction, so
the replay tool refuses it; the window's next firing, or a backfill, rewrites it."""
