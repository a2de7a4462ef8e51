"""Today's partition built "so far" through real Dagster runs: provisional in catalog.day_build and on its
materializations, refused by the sync; a day last built before it closed is rebuilt in full by the next run."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest

from assets.build_record import PROVISIONAL_TAG
from assets.sync.prepare import release_check
from assets.telemetry.days import pending_days
from tests.integration.conftest import START, make_province, sql
from warehouse.domain import TIMEZONE, day_closes_at
from warehouse.registry import DAY_BUILD, ENERGY_DAILY
from warehouse.settings import settings

pytestmark = pytest.mark.integration


def _tag(day: dt.date, key: list[str]) -> str | None:
    """The provisional tag of the latest materialization of one partition of an asset."""
    with dg.DagsterInstance.get() as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[day.isoformat()]), limit=1
        ).records
    assert records, f"{'/'.join(key)} {day} never materialized"
    return records[0].asset_materialization.tags.get(PROVISIONAL_TAG)


def _land_today(now_local: dt.datetime) -> dt.date:
    """A gateway's readings of today so far (one equipment, timestamps earlier today, off the 15-min grid)."""
    eq = (
        pl.read_parquet(settings().landing / "master" / "equipment.parquet")
        .sort("equipment_id")
        .row(0, named=True)
    )
    today = now_local.date()
    minutes = max(
        1,
        min(
            180,
            int((now_local - dt.datetime.combine(today, dt.time(0), now_local.tzinfo)).total_seconds() // 60)
            - 1,
        ),
    )
    stamps = [now_local - dt.timedelta(minutes=m) for m in range(minutes, 0, -max(1, minutes // 5))]
    rows = [
        {
            "uscc": eq["uscc"],
            "equipment_id": eq["equipment_id"],
            "metric": "temperature",
            "ts": t.strftime("%Y-%m-%d %H:%M:%S"),
            "value": "61.5",
            "unit": "℃",
        }
        for t in stamps
        if t.date() == today
    ]
    path = settings().landing / "telemetry" / "live-gateway" / "today.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_csv(path)
    return today


def _build_pending(driver) -> list[dt.date]:
    """What `lakehouse materialize` does for the days (ingest, then every pending day), without the catalog."""
    from orchestration.jobs import dirty_days

    assert driver.run("ingest_job").success
    days = dirty_days()
    for day in days:
        assert driver.run("daily_job", partition=day.isoformat()).success, day
    return days


def test_today_built_so_far_is_provisional_in_the_tables_the_ui_and_the_sync(tmp_path):
    from orchestration.runs import RunDriver

    make_province(tmp_path, enterprises=4, days=1, defect_rate=0.0)
    today = _land_today(dt.datetime.now(ZoneInfo(TIMEZONE)))
    driver = RunDriver()
    assert driver.run("ingest_job").success
    assert driver.run("daily_job", partition=today.isoformat()).success  # START left pending: not needed

    rows = sql("select day, provisional from catalog.day_build")  # what analysts read
    assert rows.rows() == [(today, True)]
    for key in (ENERGY_DAILY.asset_key, ["silver", "telemetry"], ["catalog", "day_build"]):
        assert _tag(today, list(key)) == "true"

    lake = settings().open_lake()
    tomorrow = today + dt.timedelta(days=1)
    # even once closed: built so far only
    assert "provisional" in (release_check(lake, today, today=tomorrow) or "")
    assert today not in pending_days(lake, last_day=tomorrow)  # not closed yet: no rebuild
    assert today in pending_days(lake, last_day=tomorrow, now=day_closes_at(today))


@pytest.mark.soak  # ingest and two day builds: ~45-65 s on the shared machine
def test_a_day_last_built_before_it_closed_is_rebuilt_in_full_by_the_next_run(tmp_path):
    from orchestration.runs import RunDriver

    make_province(tmp_path, enterprises=4, days=1, defect_rate=0.0)
    driver = RunDriver()
    assert _build_pending(driver) == [START]
    assert _tag(START, list(ENERGY_DAILY.asset_key)) == "false"
    lake = settings().open_lake()
    today = START + dt.timedelta(days=1)
    assert release_check(lake, START, today=today) is None

    # START as if its last build ran at 23:00 on its own day: the next run rebuilds it, now final
    row = lake.read(DAY_BUILD).filter(pl.col("day") == START)
    lake.upsert(
        DAY_BUILD,
        row.with_columns(
            run_started_at=pl.lit(day_closes_at(START) - dt.timedelta(hours=1)).dt.convert_time_zone("UTC"),
            provisional=pl.lit(True),
        ),
        run_id="test",
    )
    assert "provisional" in (release_check(lake, START, today=today) or "")
    assert _build_pending(driver) == [START]
    rebuilt = lake.read(DAY_BUILD).filter(pl.col("day") == START).row(0, named=True)
    assert rebuilt["provisional"] is False and rebuilt["run_started_at"] >= day_closes_at(START)
    assert _tag(START, list(ENERGY_DAILY.asset_key)) == "false"
    assert release_check(lake, START, today=today) is None  # final, checks passed: eligible for the sync
    assert _build_pending(driver) == []
