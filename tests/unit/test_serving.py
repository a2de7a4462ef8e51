"""Role files: native copies and marts rebuilt when their source Delta table changes, replaced atomically."""

import dataclasses
import datetime as dt
import shutil
import subprocess
import sys

import polars as pl
import pytest

from tests.unit.test_sync_release import energy_rows
from warehouse.access import STEWARD, role_database
from warehouse.registry import ENERGY_DAILY
from warehouse.serving.plan import changed_partitions, delta_version
from warehouse.serving.refresh import refresh_role_views
from warehouse.serving.session import connect
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


# ---- role files are replaced, never written in place -------------------------------------------------

HOLDER = """
import sys, duckdb
cons = [duckdb.connect(p, read_only=True) for p in sys.argv[1:]]  # as the DuckDB CLI or DBeaver would
q = "SELECT count(DISTINCT day) FROM theme.energy_daily"
print([c.execute(q).fetchone()[0] for c in cons], flush=True)
sys.stdin.readline()
print([c.execute(q).fetchone()[0] for c in cons], flush=True)
"""


def days_in(db) -> int:
    con = connect(db)
    try:
        return con.execute("SELECT count(DISTINCT day) FROM theme.energy_daily").fetchone()[0]
    finally:
        con.close()


def test_a_refresh_never_needs_a_lock_that_an_open_reader_holds(tmp_path):
    """Another process keeps both role files open read-only; the refresh still succeeds, the open
    sessions keep their snapshot, and a new session sees the new data."""
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    lake.replace_partition(ENERGY_DAILY, DAY, energy_rows(ENTS, day=DAY, seed=1), run_id="t1")
    refresh_role_views(db, lake)
    files = [str(db), str(role_database(db, STEWARD))]
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *files], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout.readline().strip() == "[1, 1]"
        day2 = DAY + dt.timedelta(days=1)
        lake.replace_partition(ENERGY_DAILY, day2, energy_rows(ENTS, day=day2, seed=2), run_id="t2")
        assert "analyst:theme.energy_daily" in refresh_role_views(db, lake)
        assert days_in(db) == 2 and days_in(role_database(db, STEWARD)) == 2
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "[1, 1]"  # their snapshot, undisturbed
    finally:
        reader.kill()
        reader.wait()
    assert not list(tmp_path.glob("*.building*"))


def test_only_the_changed_partitions_are_copied_and_the_copy_equals_the_lake(tmp_path):
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    for i, day in enumerate(days):
        lake.replace_partition(ENERGY_DAILY, day, energy_rows(ENTS, day=day, seed=i), run_id=f"t{i}")
    refresh_role_views(db, lake)
    before = delta_version(lake, ENERGY_DAILY)
    lake.replace_partition(ENERGY_DAILY, days[1], energy_rows(ENTS[:5], day=days[1], seed=9), run_id="t9")
    assert changed_partitions(lake, ENERGY_DAILY, before, delta_version(lake, ENERGY_DAILY)) == {
        days[1].isoformat()
    }
    unpartitioned = dataclasses.replace(ENERGY_DAILY, partition_by=None, month_files=False)
    assert changed_partitions(lake, unpartitioned, before, before + 1) is None
    refresh_role_views(db, lake)
    con = connect(db)
    try:
        got = con.sql("SELECT * FROM theme.energy_daily").pl().sort("day", "equipment_id")
    finally:
        con.close()
    want = lake.read(ENERGY_DAILY).select(got.columns).sort("day", "equipment_id")
    assert got.equals(want.cast(got.schema))
    assert (
        mart(db)["enterprises"].sum()
        == want.group_by("day", "city_code", "industry_code").agg(pl.col("uscc").n_unique())["uscc"].sum()
    )


def test_a_crashed_refresh_leaves_the_last_good_file_and_the_next_one_converges(tmp_path, monkeypatch):
    import warehouse.serving.refresh as serving

    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    lake.replace_partition(ENERGY_DAILY, DAY, energy_rows(ENTS, day=DAY, seed=1), run_id="t1")
    refresh_role_views(db, lake)
    day2 = DAY + dt.timedelta(days=1)
    lake.replace_partition(ENERGY_DAILY, day2, energy_rows(ENTS, day=day2, seed=2), run_id="t2")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-build")

    monkeypatch.setattr(serving, "_publish", crash)
    with pytest.raises(KeyboardInterrupt):
        refresh_role_views(db, lake)
    assert days_in(db) == 1 and list(tmp_path.glob("*.building"))  # last good file, leftovers beside it
    monkeypatch.undo()
    assert "analyst:theme.energy_daily" in refresh_role_views(db, lake)
    assert days_in(db) == 2 and not list(tmp_path.glob("*.building*"))


REFRESHER = """
import sys
from pathlib import Path
from warehouse.serving.refresh import refresh_role_views
from warehouse.storage import Lake
for _ in range(int(sys.argv[3])):
    refresh_role_views(Path(sys.argv[1]), Lake(Path(sys.argv[2])))
"""


def test_concurrent_refreshes_from_two_processes_leave_whole_files(tmp_path):
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    lake.replace_partition(ENERGY_DAILY, DAY, energy_rows(ENTS, day=DAY, seed=1), run_id="t1")
    procs = [
        subprocess.Popen([sys.executable, "-c", REFRESHER, str(db), str(lake.root), "4"]) for _ in range(2)
    ]
    for i in range(1, 4):  # the lake moves on while they refresh
        day = DAY + dt.timedelta(days=i)
        lake.replace_partition(ENERGY_DAILY, day, energy_rows(ENTS, day=day, seed=i), run_id=f"t{i}")
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    refresh_role_views(db, lake)
    assert days_in(db) == 4 and mart(db)["day"].n_unique() == 4
    assert days_in(role_database(db, STEWARD)) == 4
    assert not list(tmp_path.glob("*.building*"))


# ---- a moved home reads its own tables ------------------------------------------------------------


def test_a_moved_home_reads_its_own_tables_from_the_first_query_and_rebuilds_for_its_lake(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    lake = Lake(old / "lake")
    lake.replace_partition(ENERGY_DAILY, DAY, energy_rows(ENTS, day=DAY, seed=1), run_id="t1")
    refresh_role_views(old / "warehouse.duckdb", lake)
    total = mart(old / "warehouse.duckdb")["energy_tce"].sum()
    shutil.move(old, new)
    # a different home now sits where the old one was: nothing of it may show through
    impostor = Lake(old / "lake")
    impostor.replace_partition(ENERGY_DAILY, DAY, energy_rows(ENTS[:2], day=DAY, seed=7), run_id="x")
    moved = new / "warehouse.duckdb"
    assert mart(moved)["energy_tce"].sum() == pytest.approx(total)
    con = connect(moved)
    try:
        assert con.execute("SELECT count(*) FROM theme.energy_daily").fetchone()[0] == (
            Lake(new / "lake").read(ENERGY_DAILY).height
        )
    finally:
        con.close()
    rebuilt = refresh_role_views(moved, Lake(new / "lake"))  # recorded lake root differs: rebuilt
    assert "analyst:theme.energy_daily" in rebuilt and "steward:mart.energy_city_industry_day" in rebuilt
    assert mart(moved)["energy_tce"].sum() == pytest.approx(total)
    assert refresh_role_views(moved, Lake(new / "lake")) == []


def test_a_table_written_before_a_column_was_declared_still_refreshes_with_it_null(tmp_path):
    """A home upgraded in place: the registry now declares a column its Delta table does not have yet.
    The role files read it as NULL of the declared type (it used to fail every refresh) and a later
    write of the table brings the real values."""
    from warehouse.registry import Column

    lake = Lake(tmp_path / "lake")
    rows = energy_rows(ENTS, day=DAY)
    lake.replace_partition(ENERGY_DAILY, DAY, rows, run_id="old")
    newer = dataclasses.replace(
        ENERGY_DAILY, columns=(*ENERGY_DAILY.columns, Column("verified_by", pl.String, "declared later"))
    )
    db = tmp_path / "warehouse.duckdb"
    refresh_role_views(db, lake, tables={newer.name: newer})
    con = connect(db)
    got = con.sql(
        f"SELECT count(*), count(verified_by), typeof(any_value(verified_by)) FROM {newer.name}"
    ).fetchone()
    con.close()
    assert got == (rows.height, 0, "VARCHAR")


# ---- per-reading tables: role files keep the recent days (LAKEHOUSE_SERVE_READINGS_DAYS) ---------------

READINGS = dataclasses.replace(ENERGY_DAILY, name="theme.readings_like", readings=True)


def copied_days(db) -> list[dt.date]:
    con = connect(db, read_only=True)
    try:
        return [r[0] for r in con.execute(f"SELECT DISTINCT day FROM {READINGS.name} ORDER BY 1").fetchall()]
    finally:
        con.close()


def test_a_per_reading_table_keeps_only_its_window_and_the_window_moves_with_the_days(tmp_path):
    from warehouse.serving.refresh import refresh_views

    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    tables = {READINGS.name: READINGS, ENERGY_DAILY.name: ENERGY_DAILY}
    days = [DAY + dt.timedelta(days=i) for i in range(6)]
    for i, day in enumerate(days[:5]):
        for spec in tables.values():
            lake.replace_partition(spec, day, energy_rows(ENTS, day=day, seed=i), run_id=f"t{i}")
    refresh = lambda today, window=3: refresh_views(db, lake, tables, window_days=window, today=today)  # noqa: E731
    assert sorted(refresh(days[4])) == sorted(tables)
    assert copied_days(db) == days[2:5]  # the last three local days, the lake keeps all five
    con = connect(db, read_only=True)
    assert con.execute(f"SELECT count(DISTINCT day) FROM {ENERGY_DAILY.name}").fetchone()[0] == 5
    con.close()

    assert refresh(days[4]) == []  # nothing moved: nothing written
    assert refresh(days[5]) == [READINGS.name] and copied_days(db) == days[3:5]  # a new day: trimmed only
    lake.replace_partition(READINGS, days[5], energy_rows(ENTS, day=days[5], seed=9), run_id="t5")
    lake.replace_partition(READINGS, days[0], energy_rows(ENTS, day=days[0], seed=8), run_id="late")
    assert refresh(days[5]) == [READINGS.name]
    assert copied_days(db) == days[3:6]  # the new day copied, the late rows of an old day left out
    want = lake.read(READINGS).filter(pl.col("day") >= days[3])
    con = connect(db, read_only=True)
    got = con.execute(f"SELECT energy_tce FROM {READINGS.name}").pl()
    con.close()
    assert sorted(got["energy_tce"]) == pytest.approx(sorted(want["energy_tce"]))

    assert (
        refresh(days[5], window=5) == [READINGS.name] and copied_days(db) == days[1:6]
    )  # grew: copied again
    assert refresh(days[5], window=0) == [READINGS.name] and copied_days(db) == days  # off: everything
