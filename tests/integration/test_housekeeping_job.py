"""housekeeping_job for real: `lakehouse housekeep` runs it through the run driver in a temporary home."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tests.integration.conftest import use_home
from warehouse.registry import ENERGY_DAILY, HOUSEKEEPING, RECONCILIATION, TableSpec
from warehouse.settings import settings
from warehouse.storage import Lake

DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=d) for d in range(4)]


def rows(spec: TableSpec, n: int, seed: int) -> pl.DataFrame:
    """n rows of every day in DAYS with values of the declared types (what the table holds is not the point)."""
    values = {}
    for name, dtype in spec.schema.items():
        if dtype == pl.Date:
            values[name] = [d for d in DAYS for _ in range(n)]
        elif dtype == pl.String:
            values[name] = [f"{name[:3]}-{seed}-{k % 7}-{k}" for _ in DAYS for k in range(n)]
        elif dtype.is_integer():
            values[name] = [seed * n + k for _ in DAYS for k in range(n)]
        elif dtype.is_float():
            values[name] = [float(seed + k) / 3 for _ in DAYS for k in range(n)]
        elif dtype == pl.Boolean:
            values[name] = [k % 2 == 0 for _ in DAYS for k in range(n)]
        else:
            values[name] = [None] * (n * len(DAYS))
    return pl.DataFrame(values, schema=spec.schema)


def small_commits(lake: Lake, commits: int = 8) -> None:
    for i in range(commits):
        lake.append(ENERGY_DAILY, rows(ENERGY_DAILY, 20, i), run_id=f"build-{i}")
        lake.append(RECONCILIATION, rows(RECONCILIATION, 2, i), run_id=f"build-{i}")


def test_lakehouse_housekeep_runs_the_job_and_records_before_and_after(tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.cli import main

    monkeypatch.setenv("LAKEHOUSE_VACUUM_RETENTION_HOURS", "0")
    use_home(tmp_path)
    lake = Lake(settings().lake)
    small_commits(lake)
    energy = lake.read(ENERGY_DAILY).sort("day", "equipment_id")

    assert main(["housekeep"]) == 0

    log = lake.read(HOUSEKEEPING)
    row = log.filter(pl.col("table_name") == ENERGY_DAILY.name).row(0, named=True)
    # energy_daily's files are laid out by month: each append one file, merged into one for November
    assert row["error"] is None and row["live_files_before"] == 8
    assert row["live_files_after"] == 1 and row["cluster_by"] == "city_code,industry_code"
    assert row["disk_bytes_after"] <= 1.10 * row["live_bytes_after"]
    assert {"(dagster)", "(gx)", RECONCILIATION.name} <= set(log["table_name"])
    assert lake.read(ENERGY_DAILY).sort("day", "equipment_id").equals(energy)

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="housekeeping_job"))
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
        done = instance.get_latest_materialization_event(dg.AssetKey(["catalog", "housekeeping"]))
        meta = done.asset_materialization.metadata
        assert meta["live_files_before"].value > meta["live_files_after"].value
        assert "theme.energy_daily" in meta["report"].value
        seen = instance.fetch_observations(dg.AssetKey(ENERGY_DAILY.asset_key), limit=1).records
        assert seen[0].asset_observation.metadata["housekeeping/live_files"].value == row["live_files_after"]
    monkeypatch.delenv("LAKEHOUSE_VACUUM_RETENTION_HOURS")
    settings.cache_clear()


HOUSEKEEP = """
import sys
from assets.housekeeping.housekeep import housekeep_lake
from warehouse.registry import TABLES
from warehouse.storage import Lake
print("start", flush=True)
housekeep_lake(Lake(sys.argv[1]), TABLES.values(), retention_hours=0, run_id="killed")
print("done", flush=True)
"""


@pytest.mark.soak
def test_kill_9_during_housekeeping_leaves_every_table_readable(tmp_path):
    """SIGKILL at growing delays into a housekeeping pass; after each, every table reads what it held."""
    lake = Lake(tmp_path / "lake")
    small_commits(lake, commits=12)
    tables = (ENERGY_DAILY, RECONCILIATION)
    truth = {t.name: lake.read(t).sort(pl.all()) for t in tables}
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    killed = 0
    for delay in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0):
        proc = subprocess.Popen(
            [sys.executable, "-c", HOUSEKEEP, str(lake.root)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "start"
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        for t in tables:
            assert lake.read(t).sort(pl.all()).equals(truth[t.name]), f"{t.name} after a kill at {delay}s"
        small_commits(lake, commits=2)  # new small files for the next pass
        truth = {t.name: lake.read(t).sort(pl.all()) for t in tables}
    assert killed >= 2
    from assets.housekeeping.housekeep import housekeep_lake

    after = housekeep_lake(lake, tables, retention_hours=0, run_id="after-kills")  # then one completes
    assert all(r.error is None for r in after)
    assert max(lake.live_files(ENERGY_DAILY).group_by("partition").len()["len"]) <= 2
    assert all(lake.read(t).sort(pl.all()).equals(truth[t.name]) for t in tables)
