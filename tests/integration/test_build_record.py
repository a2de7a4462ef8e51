"""Pending work comes from what the lake holds: the day's build record, the catalog's input versions."""

import datetime as dt

import polars as pl

from assets.build_record import catalog_build_rows, catalog_stale, day_build_row, input_versions
from assets.telemetry.days import pending_days
from tests.unit.helpers import land
from warehouse.registry import CATALOG_BUILD, DAY_BUILD, ENERGY_DAILY, LANDING_FILES, RECONCILIATION
from warehouse.storage import Lake

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
T0 = dt.datetime(2026, 11, 3, 1, 0, tzinfo=dt.UTC)


def landed(lake: Lake, name: str, days: list[dt.date], at: dt.datetime) -> None:
    land(lake, name, days, at)


def built(lake: Lake, day: dt.date, started: dt.datetime) -> None:
    lake.upsert(DAY_BUILD, day_build_row(day, "daily", started, started), run_id="daily")


def test_a_day_with_silver_reconciled_but_no_build_record_is_still_pending(tmp_path):
    lake = Lake(tmp_path)
    landed(lake, "a.csv", [D1, D2], T0)
    recon = pl.DataFrame(
        [
            {
                "table_name": "silver.telemetry",
                "partition": str(d),
                "landed": 1,
                "clean": 1,
                "quarantined": 0,
                "duplicates": 0,
                "run_id": "killed",
                "built_at": T0 + dt.timedelta(hours=1),
            }
            for d in (D1, D2)
        ],
        schema=RECONCILIATION.schema,
    )
    lake.upsert(RECONCILIATION, recon, run_id="killed")  # silver committed, then the run died
    built(lake, D1, T0 + dt.timedelta(minutes=5))
    assert pending_days(lake) == [D2]


def test_records_landing_after_a_build_started_make_the_day_and_the_next_pending_again(tmp_path):
    lake = Lake(tmp_path)
    landed(lake, "a.csv", [D1, D2], T0)
    built(lake, D1, T0 + dt.timedelta(minutes=5))
    built(lake, D2, T0 + dt.timedelta(minutes=6))
    assert pending_days(lake) == []
    landed(lake, "late.csv", [D1], T0 + dt.timedelta(minutes=5, seconds=30))  # during D1's build
    assert pending_days(lake) == [D1, D2]
    assert pending_days(lake, last_day=D1) == [D1]


def test_the_catalog_is_stale_until_built_from_the_current_versions_of_its_inputs(tmp_path):
    lake = Lake(tmp_path)
    inputs = [LANDING_FILES, ENERGY_DAILY]
    assert catalog_stale(lake, inputs)
    landed(lake, "a.csv", [D1], T0)
    versions = input_versions(lake, inputs)
    assert versions == {LANDING_FILES.name: 0, ENERGY_DAILY.name: None}
    lake.overwrite(CATALOG_BUILD, catalog_build_rows(versions, "catalog", T0), run_id="catalog")
    assert not catalog_stale(lake, inputs)
    landed(lake, "b.csv", [D2], T0)
    assert catalog_stale(lake, inputs)
