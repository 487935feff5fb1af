"""Launch checks of IAM permissions, which the emulators do not implement (they answer
UNIMPLEMENTED to testIamPermissions): the service's answers are played by stand-ins here. What
the emulators can answer (missing resources) is tested against them in tests/integration."""

from types import SimpleNamespace

import pytest
from google.api_core import exceptions as api_exceptions

from transactions_pipeline.options import ConfigError
from transactions_pipeline.preflight import SUBSCRIPTION_CONSUME, _require_permission

SUBSCRIPTION = "projects/my-project/subscriptions/transacoes-pipeline"


def answering(*permissions):
    return lambda: SimpleNamespace(permissions=list(permissions))


def raising(error):
    def call():
        raise error

    return call


NOT_ASKED = raising(AssertionError("existence is asked only where IAM is not implemented"))


def check(test_permissions, get_resource=NOT_ASKED):
    _require_permission(
        "--input_subscription",
        SUBSCRIPTION,
        SUBSCRIPTION_CONSUME,
        test_permissions,
        get_resource,
    )


def test_a_granted_permission_passes():
    check(answering(SUBSCRIPTION_CONSUME))


def test_a_missing_permission_names_the_parameter_the_permission_and_the_role():
    with pytest.raises(ConfigError) as caught:
        check(answering())
    assert str(caught.value) == (
        f"--input_subscription: the job's service account lacks pubsub.subscriptions.consume on {SUBSCRIPTION} "
        "(grant it roles/pubsub.subscriber)"
    )


def test_a_missing_resource_is_said_so():
    with pytest.raises(ConfigError, match=f"^--input_subscription: {SUBSCRIPTION} does not exist$"):
        check(raising(api_exceptions.NotFound("no such subscription")))


def test_where_iam_is_not_implemented_existence_is_checked_instead():
    check(raising(api_exceptions.MethodNotImplemented("emulator")), get_resource=lambda: None)
    with pytest.raises(ConfigError, match="does not exist"):
        check(raising(api_exceptions.MethodNotImplemented("emulator")), raising(api_exceptions.NotFound("gone")))


def test_any_other_failure_stops_the_launch_with_the_services_words():
    with pytest.raises(ConfigError, match=r"^--input_subscription: cannot check .*: quota"):
        check(raising(api_exceptions.ResourceExhausted("quota")))


# Retention: a backfill's purchase dates against the tables' max ages (transactions.retention)

HEADER = "User_ID,Product_ID,Category,Price (Rs.),Discount (%),Final_Price(Rs.),Payment_Method,Purchase_Date\n"
NOW_MS = 1_796_265_600_000  # 2026-12-03T00:00:00Z


def csv_file(tmp_path, *dates: str, extra: str = "") -> str:
    path = tmp_path / "sales.csv"
    lines = [f"u{i},P{i},Books,100,10,90,UPI,{day}\n" for i, day in enumerate(dates)]
    path.write_text(HEADER + extra + "".join(lines))
    return str(path)


def test_a_backfill_older_than_the_transactions_retention_is_refused_before_it_starts(tmp_path):
    from transactions_pipeline.preflight import check_input_files

    with pytest.raises(ConfigError) as refused:
        check_input_files(csv_file(tmp_path, "02-01-2019", "31-12-2019"), rollups=False, now_ms=NOW_MS)
    assert str(refused.value) == (
        "--input_file: every purchase date read (2019-01-02 to 2019-12-31) is older than the transactions' "
        "retention (1827 days, since 2021-12-02): its rows would be garbage-collected at once; nothing would "
        "be kept (docs/data-lifecycle.md, Retention)"
    )


def test_a_backfill_past_the_counted_ids_launches_with_one_line(tmp_path, caplog):
    from transactions_pipeline.preflight import check_input_files

    path = csv_file(tmp_path, "05-03-2024", "01-12-2026", extra="not,a,usable,line\n\xff\n")
    with caplog.at_level("WARNING", logger="transactions_pipeline.preflight"):
        check_input_files(path, rollups=True, now_ms=NOW_MS)
    assert [r.getMessage() for r in caplog.records] == [
        "--input_file: purchase dates from 2024-03-05 are older than the rollups' counted ids (32 days, since "
        "2026-11-01): the rollups of those days are not deduplicated against what the stream counted "
        "(docs/data-lifecycle.md, Retention)"
    ]
    caplog.clear()
    check_input_files(path, rollups=False, now_ms=NOW_MS)
    assert caplog.records == []
