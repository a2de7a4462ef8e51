"""The pieces of a range run that are plain functions: cutting days into runs, combining a check's days."""

import datetime as dt

from dagster import AssetCheckResult, AssetCheckSeverity

from assets.day_range import combine_checks, day_ranges, merged_tags

D = dt.date(2026, 11, 1)


def _days(*offsets: int) -> list[dt.date]:
    return [D + dt.timedelta(days=n) for n in offsets]


def test_consecutive_days_share_a_run_up_to_the_limit_and_a_gap_starts_a_new_one():
    assert day_ranges(_days(0, 1, 2, 3, 4), 2) == [_days(0, 1), _days(2, 3), _days(4)]
    assert day_ranges(_days(5, 0, 1, 3), 31) == [_days(0, 1), _days(3), _days(5)]
    assert day_ranges([], 31) == []


def _check(passed: bool, failed: int) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=["silver", "telemetry"],
        check_name="quarantine_share_within_limit",
        passed=passed,
        metadata={"failed": failed, "rule": "share of quarantined readings"},
    )


def test_a_check_of_one_day_is_reported_as_evaluated():
    one = _check(False, 7)
    assert combine_checks({D: one}, downgrade=True) is one


def test_a_check_failing_on_one_day_of_a_range_names_the_day_and_warns_while_the_others_build():
    days = {d: _check(d != D + dt.timedelta(days=1), 3) for d in _days(0, 1, 2)}
    combined = combine_checks(days, downgrade=True)
    assert not combined.passed
    assert combined.severity == AssetCheckSeverity.WARN
    assert combined.metadata["days_failed"].value == ["2026-11-02"]
    assert combined.metadata["by_day"].value["2026-11-01"] == {
        "passed": True,
        "failed": 3,
        "rule": "share of quarantined readings",
    }
    # every day failed: nothing downstream may build, Dagster's own blocking stays
    every = combine_checks({d: _check(False, 1) for d in _days(0, 1)}, downgrade=False)
    assert not every.passed and every.severity == AssetCheckSeverity.ERROR


def test_a_tag_that_differs_between_days_is_true_if_any_day_says_so():
    tags = merged_tags([{"lakehouse/provisional": "false"}, {"lakehouse/provisional": "true"}, None])
    assert tags == {"lakehouse/provisional": "true"}
    assert merged_tags([{"a": "false"}, {"a": "false"}]) == {"a": "false"}


def test_every_table_of_daily_job_backfills_in_ranges_of_days_per_run():
    """A UI backfill of many days asks for the same ranges as `lakehouse materialize` (one policy)."""
    from dagster import AssetKey, BackfillPolicy

    from orchestration.definitions import defs
    from orchestration.jobs import DAILY_KEYS
    from warehouse.settings import settings

    graph = defs.resolve_asset_graph()
    for key in (*DAILY_KEYS, "catalog/day_build"):
        policy = graph.get(AssetKey.from_user_string(key)).backfill_policy
        assert policy == BackfillPolicy.multi_run(settings().days_per_run), key
