"""Today's figures: a day built before it closed is provisional, rebuilt once it closed, never synced before."""

from __future__ import annotations

import datetime as dt

import polars as pl
from deltalake import write_deltalake

from assets.build_record import PROVISIONAL_TAG, day_build_row, provisional_marks
from assets.sync.prepare import SOURCES as SYNC_SOURCES
from assets.sync.prepare import release_check
from assets.telemetry.days import migrate_day_build, pending_days, provisional_build
from tests.unit.helpers import land
from warehouse.domain import day_closes_at, provisional
from warehouse.registry import DAY_BUILD
from warehouse.serving.refresh import refresh_views
from warehouse.storage import Lake

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
CLOSE_D1 = dt.datetime(2026, 11, 1, 16, 0, tzinfo=dt.UTC)  # 2026-11-02 00:00 Asia/Shanghai
SECOND = dt.timedelta(seconds=1)


def landed(lake: Lake, days: list[dt.date], at: dt.datetime) -> None:
    land(lake, f"f-{at.isoformat()}.csv", days, at)


def built(lake: Lake, day: dt.date, started: dt.datetime) -> None:
    lake.upsert(DAY_BUILD, day_build_row(day, f"run-{started}", started, started), run_id="daily")


def test_a_local_day_closes_at_midnight_in_shanghai():
    assert day_closes_at(D1) == CLOSE_D1
    assert provisional(D1, CLOSE_D1 - SECOND)
    assert not provisional(D1, CLOSE_D1)
    assert not provisional(D1, CLOSE_D1 + dt.timedelta(days=3))


def test_the_build_record_and_the_ui_marks_say_whether_the_figures_are_so_far():
    early = day_build_row(D1, "r", CLOSE_D1 - dt.timedelta(hours=2), CLOSE_D1 + dt.timedelta(hours=1))
    late = day_build_row(D1, "r", CLOSE_D1 + SECOND, CLOSE_D1 + dt.timedelta(hours=1))
    assert early["provisional"].to_list() == [True] and late["provisional"].to_list() == [False]
    assert provisional_marks(D1, CLOSE_D1 - SECOND) == ({"provisional": True}, {PROVISIONAL_TAG: "true"})
    assert provisional_marks(D1, CLOSE_D1) == ({"provisional": False}, {PROVISIONAL_TAG: "false"})


def test_a_provisional_day_is_pending_once_it_closed_and_a_rebuild_after_the_close_ends_it(tmp_path):
    lake = Lake(tmp_path)
    at = CLOSE_D1 - dt.timedelta(hours=3)
    landed(lake, [D1], at)
    built(lake, D1, at + dt.timedelta(minutes=5))  # built "so far" at 21:05 local
    assert provisional_build(lake, D1) == at + dt.timedelta(minutes=5)
    assert pending_days(lake, now=CLOSE_D1 - SECOND) == []  # not closed: nothing to do
    assert pending_days(lake, now=CLOSE_D1) == [D1]  # closed: rebuilt in full
    built(lake, D1, CLOSE_D1 + dt.timedelta(minutes=1))
    assert provisional_build(lake, D1) is None
    assert pending_days(lake, now=CLOSE_D1 + dt.timedelta(minutes=2)) == []
    assert lake.read(DAY_BUILD)["provisional"].to_list() == [False]


def test_the_closed_provisional_day_dirties_the_next_built_day_too(tmp_path):
    lake = Lake(tmp_path)
    landed(lake, [D1, D2], CLOSE_D1 - dt.timedelta(hours=1))
    built(lake, D1, CLOSE_D1 - dt.timedelta(minutes=30))
    built(lake, D2, CLOSE_D1 - dt.timedelta(minutes=29))  # D2 in the future then: provisional too
    assert pending_days(lake, now=CLOSE_D1 + SECOND) == [D1, D2]  # D2 because its energy starts from D1
    assert pending_days(lake, now=CLOSE_D1 + SECOND, last_day=D1) == [D1]


def test_the_sync_refuses_a_closed_day_whose_last_build_was_provisional(tmp_path):
    lake = Lake(tmp_path)
    today = D2
    assert "not over yet" in (release_check(lake, D2, today=today) or "")
    built(lake, D1, CLOSE_D1 - dt.timedelta(hours=1))
    reason = release_check(lake, D1, today=today) or ""
    assert "provisional" in reason and "rebuilt in full" in reason
    built(lake, D1, CLOSE_D1 + dt.timedelta(hours=1))
    # past the provisional check: the next release check is the theme partition (none in this lake)
    assert "has no partition" in (release_check(lake, D1, today=today) or "")


def test_build_records_from_before_the_flag_are_migrated_once_and_the_role_files_read_them(tmp_path):
    lake = Lake(tmp_path / "lake")
    old_schema = {c: t for c, t in DAY_BUILD.schema.items() if c != "provisional"}
    rows = pl.concat(
        [
            day_build_row(D1, "a", CLOSE_D1 - SECOND, CLOSE_D1),
            day_build_row(D2, "b", day_closes_at(D2), day_closes_at(D2)),
        ]
    )
    write_deltalake(str(lake.path(DAY_BUILD)), rows.select(list(old_schema)).to_arrow())
    assert migrate_day_build(lake, "t") and not migrate_day_build(lake, "t")
    assert lake.read(DAY_BUILD).sort("day")["provisional"].to_list() == [True, False]
    assert refresh_views(tmp_path / "w.duckdb", lake, {DAY_BUILD.name: DAY_BUILD}) == [DAY_BUILD.name]


def test_the_daily_schedule_builds_the_day_that_just_closed_not_today():
    """The partitions end at today; a schedule from the partitioned job picked today at 01:30."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from dagster import build_schedule_context

    from orchestration.jobs import daily_schedule

    at = dt.datetime(2026, 11, 30, 1, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    request = daily_schedule(build_schedule_context(scheduled_execution_time=at))
    assert request.partition_key == "2026-11-29"


def wrote_themes(lake: Lake, day: dt.date, run_id: str) -> None:
    """A run's commits of the day's theme partitions (what daily_job commits before its build record)."""
    for spec in SYNC_SOURCES:
        row = pl.DataFrame({"day": [day], "equipment_id": ["EQ1"]}, schema_overrides={"day": pl.Date})
        row = row.select(
            pl.col(c) if c in row.columns else pl.lit(None, t).alias(c) for c, t in spec.schema.items()
        )
        lake.replace_partition(spec, day, row, run_id=run_id)


def test_the_sync_refuses_figures_of_a_run_that_died_before_its_build_record(tmp_path):
    """A provisional run killed after committing the themes but before catalog.day_build: no record says
    provisional, yet the Delta log names the run that wrote the figures, and no finished build is it."""
    lake = Lake(tmp_path)
    today = D2
    wrote_themes(lake, D1, "run-killed-at-23:59")  # no build record at all
    reason = release_check(lake, D1, today=today) or ""
    assert "run-killed-at-23:59" in reason and "did not record the day as built" in reason
    built(lake, D1, CLOSE_D1 + dt.timedelta(hours=1))  # a record of another run does not vouch for them
    assert "did not record the day as built" in (release_check(lake, D1, today=today) or "")
    started = CLOSE_D1 + dt.timedelta(hours=2)
    wrote_themes(lake, D1, f"run-{started}")  # the rebuild in full commits, then records the day
    built(lake, D1, started)
    assert release_check(lake, D1, today=today) is None
    wrote_themes(lake, D1, "run-restarted-and-killed")  # a later run dies part-way again
    assert "run-restarted-and-killed" in (release_check(lake, D1, today=today) or "")
