"""Late data rebuilds its day; a corrupted day is stopped by its blocking check; a fix passes again."""

import datetime as dt
import os
import time
from pathlib import Path

import polars as pl

from tests.integration.conftest import START, make_province, sql
from warehouse.settings import settings

DAY2 = START + dt.timedelta(days=1)


def _write_csv(path: Path, rows: list[dict], mtime: dt.datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_csv(path)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))


def _equipment_with(metric: str) -> dict:
    eq = pl.read_parquet(settings().landing / "master" / "equipment.parquet")
    return eq.filter(pl.col("metrics").str.contains(metric)).sort("equipment_id").row(0, named=True)


def _readings(eq: dict, day: dt.date, metric: str, values: list, unit: str, minute0: int = 7) -> list[dict]:
    # Minutes off the simulator's 15-minute grid so that they are new readings, not duplicates.
    return [
        {
            "uscc": eq["uscc"],
            "equipment_id": eq["equipment_id"],
            "metric": metric,
            "ts": f"{day.isoformat()} {h:02d}:{minute0:02d}:00",
            "value": v,
            "unit": unit,
        }
        for h, v in enumerate(values)
    ]


def test_late_file_marks_its_day_dirty_and_the_rebuild_includes_it(tmp_path):
    from orchestration.runs import run_pending

    make_province(tmp_path, enterprises=8, days=3, defect_rate=0.0)
    first = run_pending()
    assert first["failed"] == []
    before = sql(f"select count(*) as n from silver.telemetry where day = DATE '{DAY2}'")["n"].item()
    eq = _equipment_with("temperature")
    landing = settings().landing / "telemetry" / "late-gateway"
    # landed four days after its day: late, but within the 7-day watermark
    landed = dt.datetime.combine(DAY2 + dt.timedelta(days=4), dt.time(3), dt.UTC)
    _write_csv(landing / "late.csv", _readings(eq, DAY2, "temperature", ["80.5", "81.0"], "℃"), landed)
    # and a gateway's buffer of readings weeks old, landing now: beyond the 7-day watermark, it is
    # quarantined in today's (in-progress) partition and its old day is not reopened
    old = START - dt.timedelta(days=20)
    _write_csv(
        landing / "ancient.csv", _readings(eq, old, "temperature", ["70.0"], "℃"), dt.datetime.now(dt.UTC)
    )
    second = run_pending()
    assert second["failed"] == []
    assert DAY2.isoformat() in second["days"] and (DAY2 + dt.timedelta(days=1)).isoformat() in second["days"]
    after = sql(f"select count(*) as n from silver.telemetry where day = DATE '{DAY2}'")["n"].item()
    assert after == before + 2
    late = sql("select reason, count(*) as n from quarantine.telemetry group by 1")
    assert dict(late.iter_rows()) == {"late_beyond_watermark": 1}
    rec = sql("select * from catalog.reconciliation where landed <> clean + quarantined + duplicates")
    assert rec.is_empty()


def test_corrupted_day_is_blocked_then_a_corrected_redelivery_passes(tmp_path):
    from orchestration.runs import run_pending

    make_province(tmp_path, enterprises=8, days=3, defect_rate=0.0)
    landing = settings().landing
    # Corrupt day 2: a gateway file whose values are mostly garbage, landed the next morning.
    eq = _equipment_with("pressure")
    bad_path = landing / "telemetry" / "broken-gateway" / "day2.csv"
    n = 3000
    rows = [
        {
            "uscc": eq["uscc"],
            "equipment_id": eq["equipment_id"],
            "metric": "pressure",
            "ts": (dt.datetime.combine(DAY2, dt.time(0, 1)) + dt.timedelta(seconds=20 * i)).isoformat(
                sep=" "
            ),
            "value": "##" if i % 2 else "1.5",
            "unit": "MPa",
        }
        for i in range(n)
    ]
    mtime = dt.datetime.combine(DAY2 + dt.timedelta(days=1), dt.time(1), dt.UTC)
    _write_csv(bad_path, rows, mtime)
    summary = run_pending()
    failed_days = [d for _, d, _ in summary["failed"]]
    assert failed_days == [DAY2.isoformat()]
    checks = sql(
        f"select rule_id, passed from catalog.quality_results where table_name = 'silver.telemetry' "
        f"and partition = '{DAY2}' and rule_id = 'quarantine_share_within_limit'"
    )
    assert checks["passed"].to_list() == [False]
    theme_days = set(sql("select distinct day from theme.energy_daily")["day"].to_list())
    assert DAY2 not in theme_days and START in theme_days

    # The gateway re-delivers the corrected file under the same name: it supersedes the broken one.
    for r in rows:
        r["value"] = "1.5"
    _write_csv(bad_path, rows, mtime + dt.timedelta(hours=2))
    time.sleep(0.01)
    fixed = run_pending()
    assert fixed["failed"] == []
    assert DAY2 in set(sql("select distinct day from theme.energy_daily")["day"].to_list())
    status = dict(
        sql(
            "select status, count(*) from catalog.landing_files where source_file like '%broken-gateway%' group by 1"
        ).iter_rows()
    )
    assert status == {"ingested": 1, "superseded": 1}
    assert sql(f"select count(*) as n from quarantine.telemetry where day = DATE '{DAY2}'")["n"].item() == 0
