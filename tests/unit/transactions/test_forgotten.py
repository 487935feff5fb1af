"""The forgotten list's contract: whose records a request covers, and which user a record names."""

import orjson
import pytest

from transactions import forgotten, retention
from transactions.forgotten import ForgottenUsers, named_user

AT_MS = 1_764_740_000_000  # the request


def test_a_request_covers_the_users_records_up_to_its_time_and_no_one_elses():
    users = ForgottenUsers({"ana": AT_MS})
    assert users.forgets("ana", AT_MS - 86_400_000) and users.forgets("ana", AT_MS)
    assert not users.forgets("ana", AT_MS + 1), "a purchase after the request is new data"
    assert not users.forgets("anabel", AT_MS - 1) and not users.forgets("bo", 0)
    assert users.names("ana") and not users.names("anabel") and not users.names(None)
    assert len(users) == 1 and not ForgottenUsers({})


def test_the_table_rows_read_back_as_the_list_and_an_unreadable_time_forgets_everything():
    rows = [
        (forgotten.row_key("ana"), forgotten.request_value(AT_MS)),
        (forgotten.row_key("bó"), forgotten.request_value(AT_MS + 5)),
        (b"carla", b"2026-12-03T10:00:00Z"),  # by hand, without milliseconds
        (b"dani", b"\xff"),
        (b"\xff", forgotten.request_value(AT_MS)),  # no user id
    ]
    users = ForgottenUsers.from_rows(rows)
    assert len(users) == 4
    assert users.forgets("ana", AT_MS) and not users.forgets("ana", AT_MS + 1)
    assert users.forgets("bó", AT_MS + 5)
    assert users.forgets("carla", 9_999_999_999_999) and users.forgets("dani", AT_MS * 2), "fails closed"
    assert forgotten.request_value(AT_MS) == b"2025-12-03T05:33:20.000Z"


def test_an_entry_is_kept_as_long_as_the_transactions_it_guards():
    assert retention.GC_RULES[forgotten.FAMILY] == retention.GC_RULES["dados"]


@pytest.mark.parametrize(
    ("data", "attrs", "user"),
    [
        (orjson.dumps({"user_id": "ana", "price": "abc"}), {}, "ana"),
        (orjson.dumps({"user_id": "anabel"}), {}, "anabel"),
        (orjson.dumps({"user_id": 7}), {}, None),
        (b"{not json ana", {}, None),
        (b"[1, 2]", {}, None),
        (b"ana,P1,Books,332,10,298.8,UPI,2024-01-02", {"source_file": "gs://b/f.csv"}, "ana"),
        (b'"ana",P1,Books', {"source_file": "gs://b/f.csv"}, "ana"),
        (b"anab,P1,Books", {"source_file": "gs://b/f.csv"}, "anab"),
        (b"\xff,P1", {"source_file": "gs://b/f.csv"}, None),
        (orjson.dumps({"key": "user#ana#20261203", "count": 2}), {"rollup": "user_day"}, "ana"),
        (orjson.dumps({"key": "user#ana2#20261203", "count": 2}), {"rollup": "user_day"}, "ana2"),
        (orjson.dumps({"key": "category#ana#202612030300"}), {"rollup": "category_minute"}, None),
        (orjson.dumps({"key": "user#ana"}), {"rollup": "user_day"}, None),
        (b"\xff", {"rollup": "user_day"}, None),
    ],
)
def test_the_user_a_record_names(data, attrs, user):
    """What ``transacoes-forget`` reads of a dead letter, and the job of a record it cannot parse."""
    assert named_user(data, attrs) == user
