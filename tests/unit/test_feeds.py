"""catalog.feed_status names exactly the enterprises that went late or silent, with the day's completeness."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from assets.catalog.feeds import lake_feed_status, late_feeds
from warehouse.domain import EQUIPMENT_TYPES
from warehouse.registry import EQUIPMENT, SILVER_TELEMETRY, TableSpec
from warehouse.settings import load_settings
from warehouse.storage import Lake

CST = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 8, 10, 0, tzinfo=CST)  # 40 slots of 15 minutes into the local day
START = dt.datetime(2026, 11, 7, 0, 0, tzinfo=CST)
LAST_READING = {  # uscc -> local time of its last reading (None: never sends)
    "ON_TIME": dt.datetime(2026, 11, 8, 9, 45, tzinfo=CST),
    "LATE": dt.datetime(2026, 11, 8, 8, 0, tzinfo=CST),
    "SILENT_TODAY": dt.datetime(2026, 11, 7, 8, 0, tzinfo=CST),
    "NEVER": None,
}


def _frame(spec: TableSpec, rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{c: None for c in spec.schema} | r for r in rows], schema=spec.schema)


def _province(lake: Lake) -> None:
    metrics = EQUIPMENT_TYPES["compressor"]
    lake.overwrite(
        EQUIPMENT,
        _frame(
            EQUIPMENT,
            [{"equipment_id": f"EQ-{u}", "uscc": u, "equipment_type": "compressor"} for u in LAST_READING],
        ),
        run_id="t",
    )
    rows = []
    for uscc, last in LAST_READING.items():
        t = START
        while last is not None and t <= last:
            for m in metrics:
                rows.append(
                    {
                        "day": t.date(),
                        "uscc": uscc,
                        "equipment_id": f"EQ-{uscc}",
                        "metric": m,
                        "ts_utc": t.astimezone(dt.UTC),
                        "source_file": f"telemetry/{uscc}_{t:%Y%m%d%H}.csv",
                    }
                )
            t += dt.timedelta(minutes=15)
    # a reading of an enterprise unknown to the master data is not a feed to judge
    rows.append({"day": NOW.date(), "uscc": "UNKNOWN", "metric": "power", "ts_utc": NOW.astimezone(dt.UTC)})
    readings = _frame(SILVER_TELEMETRY, rows)
    for day in readings["day"].unique():
        lake.replace_partition(SILVER_TELEMETRY, day, readings.filter(pl.col("day") == day), run_id="t")


def test_feed_status_names_exactly_the_late_and_silent_enterprises(tmp_path):
    lake = Lake(tmp_path / "lake")
    _province(lake)
    status = lake_feed_status(
        lake, load_settings({"LAKEHOUSE_HOME": str(tmp_path)}), now=NOW.astimezone(dt.UTC)
    )
    got = {r["uscc"]: r for r in status.iter_rows(named=True)}
    assert {u: r["status"] for u, r in got.items()} == {
        "ON_TIME": "on_time",
        "LATE": "late",
        "SILENT_TODAY": "silent",
        "NEVER": "silent",
    }
    assert sorted(late_feeds(status)["uscc"]) == ["LATE", "NEVER", "SILENT_TODAY"]
    assert got["LATE"]["lateness_minutes"] == 120 - 15 and got["ON_TIME"]["lateness_minutes"] == 0
    # expected so far: 40 slots x 4 compressor metrics, as the day_complete rule counts them
    assert {u: (r["readings_expected"], r["readings_received"]) for u, r in got.items()} == {
        "ON_TIME": (160, 160),
        "LATE": (160, 33 * 4),
        "SILENT_TODAY": (160, 0),
        "NEVER": (160, 0),
    }
    assert got["LATE"]["completeness_pct"] == 100 * 132 / 160
    assert got["LATE"]["last_file"] == "telemetry/LATE_2026110808.csv"
    assert got["LATE"]["last_reading_at"] == LAST_READING["LATE"].astimezone(dt.UTC)
    assert got["NEVER"]["last_reading_at"] is None and got["ON_TIME"]["day"] == dt.date(2026, 11, 8)


def test_a_shorter_cadence_setting_makes_the_on_time_feed_late(tmp_path):
    lake = Lake(tmp_path / "lake")
    _province(lake)
    s = load_settings({"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_FEED_CADENCE_MINUTES": "10"})
    status = lake_feed_status(lake, s, now=NOW.astimezone(dt.UTC))
    assert status.filter(pl.col("uscc") == "ON_TIME")["status"].item() == "late"


def test_lakehouse_feeds_lists_the_late_enterprises(tmp_path):
    lake = Lake(tmp_path / "lake")
    _province(lake)
    env = os.environ | {"LAKEHOUSE_HOME": str(tmp_path)}
    lakehouse = str(Path(sys.executable).parent / "lakehouse")
    out = subprocess.run(
        [lakehouse, "feeds", "--at", NOW.isoformat(), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert sorted(r["uscc"] for r in rows) == ["LATE", "NEVER", "SILENT_TODAY"]
    bad = subprocess.run(
        [lakehouse, "feeds", "--at", "yesterday"], env=env, capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr + bad.stdout
