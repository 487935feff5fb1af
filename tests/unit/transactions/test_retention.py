"""The retention table: which family keeps what for how long, and the numbers that follow from it."""

from transactions import forgotten, layout, retention, rollup_layout


def test_every_family_of_every_table_has_one_rule_and_the_ids_are_kept_shortest():
    assert {
        layout.FAMILY: retention.GcRule(max_versions=1, max_age_days=1827),
        rollup_layout.FAMILY: retention.GcRule(max_versions=1, max_age_days=1096),
        rollup_layout.IDS_FAMILY: retention.GcRule(max_versions=1, max_age_days=32),
        forgotten.FAMILY: retention.GcRule(max_versions=1, max_age_days=1827),
    } == retention.GC_RULES
    assert min(retention.GC_RULES.values(), key=lambda rule: rule.max_age_days) == retention.IDS


def test_the_ids_outlive_the_lateness_and_the_backfill_overlap():
    """31 days of backfill overlap plus an hour of lateness, rounded up to whole days."""
    assert retention.IDS.max_age_seconds == 32 * 86_400
    assert retention.IDS.max_age_seconds >= (
        retention.BACKFILL_OVERLAP_DAYS * 86_400 + retention.MAX_ROLLUP_LATENESS_SECONDS
    )


def test_the_rule_as_cbt_takes_it_and_the_subscriptions_week():
    assert retention.DADOS.cbt() == "maxage=1827d or maxversions=1"
    assert retention.SUBSCRIPTION_RETENTION_SECONDS == 604_800


def test_the_oldest_event_kept_is_now_minus_the_families_max_age():
    now_ms = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    assert retention.oldest_kept_ms("ids", now_ms) == now_ms - 32 * 86_400_000
    assert retention.oldest_kept_ms("dados", now_ms) == now_ms - 1827 * 86_400_000


def test_the_lateness_it_allows_for_is_the_jobs_default():
    from transactions_pipeline.options import JobConfig

    assert JobConfig.__dataclass_fields__["rollup_allowed_lateness_seconds"].default == 3600
    assert retention.MAX_ROLLUP_LATENESS_SECONDS == 3600


NOW_MS = 1_796_265_600_000  # 2026-12-03T00:00:00Z


def test_a_backfill_of_recent_days_says_nothing():
    assert retention.backfill_notices(["2026-11-20", "2026-12-01"], NOW_MS, rollups=True) == (None, [])
    assert retention.backfill_notices([], NOW_MS, rollups=True) == (None, [])


def test_days_past_the_counted_ids_are_said_once_with_rollups_only():
    days = ["2026-10-01", "2026-11-30"]
    assert retention.backfill_notices(days, NOW_MS, rollups=False) == (None, [])
    assert retention.backfill_notices(days, NOW_MS, rollups=True) == (
        None,
        [
            "purchase dates from 2026-10-01 are older than the rollups' counted ids (32 days, since "
            "2026-11-01): the rollups of those days are not deduplicated against what the stream counted"
        ],
    )


def test_days_past_the_transactions_retention_are_a_warning_or_if_all_are_a_refusal():
    assert retention.backfill_notices(["2021-12-01", "2024-03-05"], NOW_MS, rollups=False) == (
        None,
        [
            "purchase dates from 2021-12-01 are older than the transactions' retention (1827 days, since "
            "2021-12-02): those rows are garbage-collected at once"
        ],
    )
    assert retention.backfill_notices(["2019-01-02", "2019-12-31", "2019-01-02"], NOW_MS, rollups=True) == (
        "every purchase date read (2019-01-02 to 2019-12-31) is older than the transactions' retention "
        "(1827 days, since 2021-12-02): its rows would be garbage-collected at once",
        [],
    )
