"""Marts: native DuckDB roll-ups rebuilt when their source Delta table changes, equal to the roll-up."""

import datetime as dt

import polars as pl
import pytest

from tests.unit.test_sync_release import energy_rows
from warehouse.access import STEWARD, role_database
from warehouse.registry import ENERGY_DAILY
from warehouse.serving import connect, refresh_role_views
from warehouse.storage import Lake

DAY = dt.date(2026, 10, 5)
ENTS = [(f"91370000000000{i:04d}", "3701" if i % 2 else "3702", "26" if i % 3 else "31") for i in range(12)]


def mart(db) -> pl.DataFrame:
    con = connect(db, read_only=True)
    try:
        return con.sql("SELECT * FROM mart.energy_city_industry_day ORDER BY ALL").pl()
    finally:
        con.close()


def test_mart_equals_the_roll_up_and_is_rebuilt_only_when_the_source_changes(tmp_path):
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    day1 = energy_rows(ENTS, day=DAY, seed=1)
    lake.replace_partition(ENERGY_DAILY, DAY, day1, run_id="t1")
    built = refresh_role_views(db, lake)
    assert (
        "analyst:mart.energy_city_industry_day" in built and "steward:mart.energy_city_industry_day" in built
    )
    expected = (
        day1.group_by("day", "city_code", "industry_code")
        .agg(
            enterprises=pl.col("uscc").n_unique(),
            equipment=pl.len(),
            energy_tce=pl.col("energy_tce").sum(),
            electricity_kwh=pl.col("electricity_kwh").sum(),
        )
        .sort("day", "city_code", "industry_code")
    )
    got = mart(db)
    assert got.select(expected.columns[:5]).equals(
        expected.select(expected.columns[:5]).cast(got.select(expected.columns[:5]).schema)
    )
    assert got["energy_tce"].to_list() == pytest.approx(expected["energy_tce"].to_list())
    assert refresh_role_views(db, lake) == []  # nothing new: no rebuild

    day2 = energy_rows(ENTS, day=DAY + dt.timedelta(days=1), seed=2)
    lake.replace_partition(ENERGY_DAILY, DAY + dt.timedelta(days=1), day2, run_id="t2")
    assert "analyst:mart.energy_city_industry_day" in refresh_role_views(db, lake)
    assert mart(db)["day"].n_unique() == 2
    assert mart(role_database(db, STEWARD)).height == mart(db).height
