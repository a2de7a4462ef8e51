"""Backfills in ranges: one daily_job run over consecutive days leaves exactly the lake of one run per day
(table by table, partition by partition), with far fewer Dagster events; a blocked day in the middle of
a range blocks only its own themes and its own day_build row, as its own run would."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

from tests.integration.lake_snapshot import differences, snapshot
from tests.integration.test_converge import copy_home, lakehouse

pytestmark = pytest.mark.integration

START = dt.date(2026, 11, 1)
DAYS = 3
PROVINCE = ["--enterprises", "8", "--days", str(DAYS), "--start", START.isoformat(), "--seed", "5"]


def daily_runs(home: Path) -> list[dict]:
    """The home's daily_job runs: days (range or partition), status and number of events in its log."""
    from dagster import DagsterInstance

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        return [
            {
                "partition": r.dagster_run.tags.get("dagster/partition")
                or "...".join(
                    r.dagster_run.tags[t]
                    for t in ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
                ),
                "status": r.dagster_run.status.value,
                "events": len(instance.all_logs(r.dagster_run.run_id)),
                "run_id": r.dagster_run.run_id,
            }
            for r in instance.get_run_records()
            if r.dagster_run.job_name == "daily_job"
        ]
    finally:
        instance.dispose()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("ranges") / "template"
    done = lakehouse(home, "generate", *PROVINCE)
    assert done.returncode == 0, done.stderr
    return home


def test_a_range_run_builds_the_tables_of_day_by_day_runs_with_fewer_events(template, tmp_path):
    by_day = copy_home(template, tmp_path / "by_day")
    done = lakehouse(by_day, "materialize", LAKEHOUSE_DAYS_PER_RUN="1")
    assert done.returncode == 0, done.stdout + done.stderr
    ranged = copy_home(template, tmp_path / "ranged")
    done = lakehouse(ranged, "materialize")
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(f"[{i}/{DAYS}] day" in done.stdout for i in range(1, DAYS + 1))  # progress per day

    diff = differences(snapshot(by_day / "lake"), snapshot(ranged / "lake"))
    assert diff == [], "\n".join(diff)
    one, each = daily_runs(ranged), daily_runs(by_day)
    last = START + dt.timedelta(days=DAYS - 1)
    assert [r["partition"] for r in one] == [f"{START}...{last}"]
    assert len(each) == DAYS
    events_ranged, events_by_day = one[0]["events"], sum(r["events"] for r in each)
    print(f"daily_job events: one run of {DAYS} days {events_ranged}, {DAYS} runs {events_by_day}")
    assert events_ranged < events_by_day / 2

    again = lakehouse(ranged, "materialize")
    assert again.returncode == 0 and "built 0 day(s)" in again.stdout, again.stdout + again.stderr


def _corrupt(home: Path, day: dt.date) -> None:
    """A gateway file of `day` whose values are mostly garbage: silver's quarantine share blocks the day."""
    landing = home / "landing"
    eq = (
        pl.read_parquet(landing / "master" / "equipment.parquet")
        .filter(pl.col("metrics").str.contains("pressure"))
        .sort("equipment_id")
        .row(0, named=True)
    )
    t0 = dt.datetime.combine(day, dt.time(0, 1))
    rows = [
        {
            "uscc": eq["uscc"],
            "equipment_id": eq["equipment_id"],
            "metric": "pressure",
            "ts": (t0 + dt.timedelta(seconds=20 * i)).isoformat(sep=" "),
            "value": "##" if i % 2 else "1.5",
            "unit": "MPa",
        }
        for i in range(3000)
    ]
    path = landing / "telemetry" / "broken-gateway" / "bad.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_csv(path)
    landed = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(1), dt.UTC).timestamp()
    os.utime(path, (landed, landed))


def test_a_blocked_day_in_the_middle_of_a_range_blocks_only_its_own_themes(template, tmp_path):
    from warehouse.registry import DAY_BUILD, ENERGY_DAILY, INDUSTRY_LIBRARY_TABLES, SILVER_TELEMETRY
    from warehouse.storage import Lake

    blocked = START + dt.timedelta(days=1)
    broken = copy_home(template, tmp_path / "broken")
    _corrupt(broken, blocked)
    by_day = copy_home(broken, tmp_path / "by_day")
    ranged = copy_home(broken, tmp_path / "ranged")
    alone = lakehouse(by_day, "materialize", LAKEHOUSE_DAYS_PER_RUN="1")
    together = lakehouse(ranged, "materialize")
    for done in (alone, together):  # the blocked day fails `materialize`, the others are ok
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"day {blocked}: FAILED" in done.stdout and done.stdout.count("FAILED") == 1, done.stdout

    diff = differences(snapshot(by_day / "lake"), snapshot(ranged / "lake"))
    assert diff == [], "\n".join(diff)  # same quarantine, reconciliation, quality rows; same themes missing
    lake = Lake(ranged / "lake")
    others = {START + dt.timedelta(days=n) for n in range(DAYS)} - {blocked}
    assert set(lake.read(DAY_BUILD)["day"].to_list()) == others
    assert blocked.isoformat() in lake.partitions(SILVER_TELEMETRY)  # silver and its quarantine kept
    assert set(lake.partitions(ENERGY_DAILY)) == {d.isoformat() for d in others}
    for spec in INDUSTRY_LIBRARY_TABLES.values():  # a library without an enterprise has no partition
        assert blocked.isoformat() not in lake.partitions(spec), spec.name
    assert any(lake.partitions(spec) for spec in INDUSTRY_LIBRARY_TABLES.values())
    (run,) = daily_runs(ranged)
    assert run["status"] == "FAILURE"  # as the blocked day's own run
    _assert_blocked_in_the_ui(ranged, run["run_id"], blocked)


def _assert_blocked_in_the_ui(home: Path, run_id: str, blocked: dt.date) -> None:
    """The range run's check names the failing day; the blocked day's partitions say why."""
    from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        checks = [
            e.dagster_event.event_specific_data
            for e in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
        failed = [c for c in checks if not c.passed]
        assert failed and all(c.severity == AssetCheckSeverity.WARN for c in failed)
        assert all(c.metadata["days_failed"].value == [blocked.isoformat()] for c in failed)
        marked = {
            (e.asset_materialization.asset_key.to_user_string(), e.asset_materialization.partition)
            for e in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
            if "lakehouse/blocked" in e.asset_materialization.metadata
        }
        assert ("silver/telemetry", blocked.isoformat()) in marked
        assert ("theme/energy_daily", blocked.isoformat()) in marked
        assert {p for _, p in marked} == {blocked.isoformat()}
    finally:
        instance.dispose()
