"""Housekeeping over real Delta tables: compaction, orphans, VACUUM, checkpoints, old runs and GX results."""

import datetime as dt
import os
import time

import polars as pl
import pytest
from deltalake.exceptions import CommitFailedError

from assets.housekeeping.housekeep import housekeep_table, prune_runs
from bench.housekeeping import day_table
from quality.gx_files import RESULT_ROOTS, prune_results
from warehouse.registry import Column, TableSpec
from warehouse.serving.plan import changed_partitions
from warehouse.storage import Lake, retry_conflicts

READINGS = day_table(
    "theme.test_readings",
    (
        Column("day", pl.Date, "Local day"),
        Column("city_code", pl.String, "City"),
        Column("industry_code", pl.String, "Industry"),
        Column("equipment_id", pl.String, "Equipment"),
        Column("energy_tce", pl.Float64, "Energy"),
    ),
    key=("day", "equipment_id"),
    owner="test",
    description="Small commits over several day partitions",
    month_files=False,
)
DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=d) for d in range(5)]
COMMITS = 12


def batch(i: int) -> pl.DataFrame:
    """One small commit: 30 readings in every day partition (so one new file per partition)."""
    n = 30
    return pl.DataFrame(
        {
            "day": [d for d in DAYS for _ in range(n)],
            "city_code": [f"37{(i + k) % 16 + 1:02d}" for _ in DAYS for k in range(n)],
            "industry_code": [f"{(i * 7 + k) % 24 + 13}" for _ in DAYS for k in range(n)],
            "equipment_id": [f"EQ-{i:03d}-{k:03d}" for _ in DAYS for k in range(n)],
            "energy_tce": [float(i * n + k) for _ in DAYS for k in range(n)],
        }
    )


def many_small_commits(lake: Lake) -> int:
    for i in range(COMMITS):
        lake.append(READINGS, batch(i), run_id=f"r{i}")
    # a rebuilt day leaves the files it replaced behind for time travel (VACUUM's business)
    day = DAYS[0]
    lake.replace_partition(READINGS, day, batch(99).filter(pl.col("day") == day), run_id="rebuild")
    return lake.version(READINGS)


def files_per_partition(lake: Lake) -> dict:
    return dict(lake.live_files(READINGS).group_by("partition").len().iter_rows())


def ordered(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("day", "equipment_id")


def test_compaction_leaves_few_files_per_partition_and_time_travel_still_reads(tmp_path):
    lake = Lake(tmp_path)
    version = many_small_commits(lake)
    uri = lake.table_uri(READINGS)
    assert max(files_per_partition(lake).values()) >= COMMITS
    current = ordered(lake.read(READINGS))
    earlier = ordered(pl.read_delta(uri, version=version - 3))  # inside the retention window
    fresh_orphan = tmp_path / "theme" / "test_readings" / f"day={DAYS[1]}" / "part-running-build.parquet"
    fresh_orphan.write_bytes(b"a build staging its files right now")

    report = housekeep_table(lake, READINGS, retention_hours=24, run_id="hk")

    assert report.error is None
    assert max(files_per_partition(lake).values()) <= 2
    assert report.partitions_compacted == len(DAYS) - 1  # the rebuilt day holds one file
    assert report.cluster_by == ("city_code", "industry_code")
    assert lake.last_commit(READINGS)["operationMetrics"]["plannerStrategy"] == "zOrder"
    assert ordered(lake.read(READINGS)).equals(current)
    assert ordered(pl.read_delta(uri, version=version - 3)).equals(earlier)  # files kept by the retention
    assert ordered(pl.read_delta(uri, version=version)).equals(current)
    assert fresh_orphan.exists()  # younger than the retention: maybe a running build's
    # the role files' refresh has no row to copy again: the compaction changed files, not rows
    assert changed_partitions(lake, READINGS, version, lake.version(READINGS)) == set()
    assert report.checkpoint_version == lake.version(READINGS)
    assert (tmp_path / "theme" / "test_readings" / "_delta_log" / "_last_checkpoint").exists()


def test_vacuum_with_zero_retention_leaves_disk_within_ten_percent_of_live_data(tmp_path):
    lake = Lake(tmp_path)
    many_small_commits(lake)
    orphan = tmp_path / "theme" / "test_readings" / f"day={DAYS[2]}" / "part-killed-build.parquet"
    orphan.write_bytes(b"x" * 4096)
    os.utime(orphan, (time.time() - 3600, time.time() - 3600))
    current = ordered(lake.read(READINGS))

    report = housekeep_table(lake, READINGS, retention_hours=0, run_id="hk")

    assert report.error is None and report.orphans_removed == 1 and not orphan.exists()
    live_files, disk = lake.live_files(READINGS), lake.disk_usage(READINGS)
    assert report.after.disk_bytes == disk[1]
    assert disk[1] <= 1.10 * live_files["size_bytes"].sum()
    assert disk[0] == live_files.height
    assert report.before.disk_files > report.after.disk_files
    assert ordered(lake.read(READINGS)).equals(current)

    again = housekeep_table(lake, READINGS, retention_hours=0, run_id="hk2")  # nothing left to do
    assert again.error is None and again.after.version == report.after.version
    assert again.files_compacted == again.files_vacuumed == again.orphans_removed == 0


def test_an_unpartitioned_table_is_compacted_too(tmp_path):
    flat = TableSpec(**{**READINGS.__dict__, "name": "theme.test_flat", "partition_by": None})
    lake = Lake(tmp_path)
    for i in range(6):
        lake.append(flat, batch(i), run_id=f"r{i}")
    report = housekeep_table(lake, flat, retention_hours=0, run_id="hk")
    assert report.error is None and report.after.live_files == 1 and report.after.disk_files == 1
    assert lake.read(flat).height == 6 * 30 * len(DAYS)


def test_a_concurrent_commit_leaves_the_table_as_it_was(tmp_path, monkeypatch):
    lake = Lake(tmp_path)
    many_small_commits(lake)
    before = ordered(lake.read(READINGS))

    def conflict(*args, **kwargs):
        raise RuntimeError("CommitFailedError: a concurrent transaction replaced the partition")

    monkeypatch.setattr(Lake, "compact", conflict)
    report = housekeep_table(lake, READINGS, retention_hours=0, run_id="hk")
    assert report.error.startswith("RuntimeError: CommitFailedError")
    assert ordered(lake.read(READINGS)).equals(before)


MONTHLY = TableSpec(
    **{**READINGS.__dict__, "name": "theme.test_monthly", "month_files": True}  # as the themes are laid out
)
YEAR_START = dt.date(2026, 1, 1)


def a_day(day: dt.date, scale: float = 1.0) -> pl.DataFrame:
    return (
        batch(day.toordinal() % 50)
        .with_columns(pl.lit(day).alias("day"), pl.col("energy_tce") * scale)
        .head(30)
    )


def build_days(lake: Lake, days: int, *, rebuilt: int = 0) -> None:
    """A day's build replaces the day; the first `rebuilt` days are built again (late data)."""
    for k in range(days):
        lake.replace_partition(MONTHLY, YEAR_START + dt.timedelta(days=k), a_day(YEAR_START), run_id=f"b{k}")
    for k in range(rebuilt):
        day = YEAR_START + dt.timedelta(days=k)
        lake.replace_partition(MONTHLY, day, a_day(day, 2.0), run_id=f"late{k}")


def test_month_files_merge_into_one_file_a_month_and_a_day_is_still_replaced_alone(tmp_path):
    lake = Lake(tmp_path)
    build_days(lake, 75, rebuilt=3)  # January to mid-March
    assert lake.table(MONTHLY).metadata().partition_columns == []
    assert lake.live_files(MONTHLY).height == 75
    version, current = lake.version(MONTHLY), ordered(lake.read(MONTHLY))
    assert len(lake.partitions(MONTHLY)) == 75

    report = housekeep_table(lake, MONTHLY, retention_hours=24, run_id="hk")

    assert report.error is None and report.partitions_compacted == 3 and report.files_compacted == 75
    assert files_per_month(lake) == {"2026-01": 1, "2026-02": 1, "2026-03": 1}
    assert ordered(lake.read(MONTHLY)).equals(current)
    assert ordered(pl.read_delta(lake.table_uri(MONTHLY), version=version)).equals(current)  # time travel
    # rows did not change: no refresh copies anything, nothing is stale
    assert changed_partitions(lake, MONTHLY, version, lake.version(MONTHLY)) == set()
    assert not lake.data_changed(MONTHLY, version)
    assert housekeep_table(lake, MONTHLY, retention_hours=24, run_id="hk2").files_compacted == 0

    # a late day inside a merged month: only that day's rows change, the month stays one file
    compacted, late = lake.version(MONTHLY), dt.date(2026, 2, 10)
    lake.replace_partition(MONTHLY, late, a_day(late, 5.0), run_id="late")
    after = ordered(lake.read(MONTHLY))
    assert after.filter(pl.col("day") != late).equals(current.filter(pl.col("day") != late))
    assert after.filter(pl.col("day") == late).equals(ordered(a_day(late, 5.0)))
    assert files_per_month(lake)["2026-02"] == 1
    assert changed_partitions(lake, MONTHLY, compacted, lake.version(MONTHLY)) == {late.isoformat()}
    assert lake.partition_writer(MONTHLY, late)["run_id"] == "late"


def files_per_month(lake: Lake) -> dict:
    return dict(lake.live_files(MONTHLY).group_by("partition").len().iter_rows())


def test_staged_shard_files_of_a_month_table_commit_as_one_day_replace(tmp_path):
    lake = Lake(tmp_path)
    build_days(lake, 3)
    day = YEAR_START + dt.timedelta(days=1)
    rows = a_day(day, 3.0)
    staged = [
        *lake.stage_files(MONTHLY, day, rows.head(10), run_id="s", tag="k0"),
        *lake.stage_files(MONTHLY, day, rows.tail(20), run_id="s", tag="k1"),
    ]
    assert lake.read(MONTHLY, partition=day).equals(a_day(YEAR_START).with_columns(pl.lit(day).alias("day")))

    lake.commit_partition(MONTHLY, day, staged, run_id="s")

    assert ordered(lake.read(MONTHLY, partition=day)).equals(ordered(rows))
    assert not (lake.path(MONTHLY) / f"day={day}").exists()  # the staged files are gone once read
    lake.commit_partition(MONTHLY, day, [], run_id="empty")  # no shard rows: the day is emptied
    assert lake.read(MONTHLY, partition=day).is_empty() and lake.read(MONTHLY).height == 60


def test_a_day_partitioned_table_is_laid_out_by_month_on_its_first_write(tmp_path):
    lake = Lake(tmp_path)
    by_day = TableSpec(**{**MONTHLY.__dict__, "month_files": False})
    for k in range(4):
        day = YEAR_START + dt.timedelta(days=k)
        lake.replace_partition(by_day, day, a_day(day), run_id=f"d{k}")
    before = ordered(lake.read(by_day))
    assert lake.table(MONTHLY).metadata().partition_columns == ["day"]

    day = YEAR_START + dt.timedelta(days=9)
    lake.replace_partition(MONTHLY, day, a_day(day), run_id="m")

    assert lake.table(MONTHLY).metadata().partition_columns == []
    assert ordered(lake.read(MONTHLY)).equals(ordered(pl.concat([before, a_day(day)])))
    assert lake.partitions(MONTHLY)[-1] == day.isoformat()


def test_a_replace_that_lost_a_commit_race_is_done_again():
    calls = []

    def write() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise CommitFailedError("a concurrent transaction removed a file this one read")
        return 7

    assert retry_conflicts(write) == 7 and len(calls) == 3


def test_two_builds_of_days_in_one_merged_month_both_land(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    lake = Lake(tmp_path)
    build_days(lake, 20)
    housekeep_table(lake, MONTHLY, retention_hours=24, run_id="hk")
    days = [YEAR_START + dt.timedelta(days=k) for k in (3, 11, 14, 17)]
    with ThreadPoolExecutor(4) as pool:  # each rewrites the same month file
        list(
            pool.map(
                lambda d: Lake(tmp_path).replace_partition(MONTHLY, d, a_day(d, 9.0), run_id=f"{d}"), days
            )
        )
    table = lake.read(MONTHLY)
    assert table.height == 20 * 30
    for d in days:
        assert ordered(table.filter(pl.col("day") == d)).equals(ordered(a_day(d, 9.0)))


def _results(gx_home, suite: str, run_name: str, stamp: dt.datetime) -> None:
    for root in RESULT_ROOTS:
        folder = gx_home / root / suite / run_name / stamp.strftime("%Y%m%dT%H%M%S.%fZ")
        folder.mkdir(parents=True)
        (folder / "lakehouse-x.json").write_text("{}")


def test_prune_results_keeps_the_newest_per_suite_and_partition(tmp_path):
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    old, older, recent = now - dt.timedelta(days=40), now - dt.timedelta(days=50), now - dt.timedelta(days=2)
    _results(tmp_path, "silver/telemetry", "2026-10-01:run-a", older)
    _results(tmp_path, "silver/telemetry", "2026-10-01:run-b", old)  # the newest of its partition: kept
    _results(tmp_path, "silver/telemetry", "2026-11-20:run-c", older)
    _results(tmp_path, "silver/telemetry", "2026-11-20:run-d", recent)
    _results(tmp_path, "theme/energy_daily", "2026-10-01:run-a", older)  # another suite: kept
    out = prune_results(tmp_path, dt.timedelta(days=30), now)
    assert (out.results_removed, out.pages_removed) == (2, 2)
    left = {p.parent.name for p in (tmp_path / RESULT_ROOTS[1]).rglob("*Z") if p.is_dir()}
    assert left == {"2026-10-01:run-b", "2026-11-20:run-d", "2026-10-01:run-a"}
    assert not (tmp_path / RESULT_ROOTS[0] / "silver/telemetry" / "2026-10-01:run-a").exists()


def test_prune_runs_keeps_the_newest_run_of_each_job_and_partition():
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun

    with dg.instance_for_test() as instance:
        ids: dict[str | None, list[str]] = {}
        for i in range(2):
            for part in ("2026-11-01", "2026-11-02", None):
                run = DagsterRun(
                    job_name="daily_job" if part else "catalog_job",
                    run_id=f"run-{part}-{i}",
                    status=dg.DagsterRunStatus.SUCCESS if i == 0 else dg.DagsterRunStatus.FAILURE,
                    tags={"dagster/partition": part} if part else {},
                )
                ids.setdefault(part, []).append(instance.add_run(run).run_id)
        started = DagsterRun(job_name="daily_job", run_id="running", status=dg.DagsterRunStatus.STARTED)
        instance.add_run(started)
        now = dt.datetime.now(dt.UTC)
        assert prune_runs(instance, dt.timedelta(days=1), now) == 0  # none old enough
        assert prune_runs(instance, dt.timedelta(0), now + dt.timedelta(minutes=1)) == 3
        left = {r.run_id for r in instance.get_runs()}
        assert left == {"running", *(runs[-1] for runs in ids.values())}


def test_a_range_run_is_kept_while_it_is_the_newest_run_of_any_of_its_days():
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun

    def add(run_id: str, tags: dict) -> None:
        instance.add_run(
            DagsterRun(job_name="daily_job", run_id=run_id, status=dg.DagsterRunStatus.SUCCESS, tags=tags)
        )

    span = {
        "dagster/asset_partition_range_start": "2026-11-01",
        "dagster/asset_partition_range_end": "2026-11-03",
    }
    with dg.instance_for_test() as instance:
        add("range-old", span)  # superseded on every day by the two below
        add("range", span)  # still the newest of 11-02
        add("day-1", {"dagster/partition": "2026-11-01"})
        add("day-3", {"dagster/partition": "2026-11-03"})
        now = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
        assert prune_runs(instance, dt.timedelta(0), now) == 1
        assert {r.run_id for r in instance.get_runs()} == {"range", "day-1", "day-3"}


@pytest.mark.parametrize("value", ["-1", "soon"])
def test_a_negative_or_unreadable_retention_is_refused(value):
    from warehouse.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="LAKEHOUSE_VACUUM_RETENTION_HOURS"):
        load_settings({"LAKEHOUSE_VACUUM_RETENTION_HOURS": value})


def test_housekeeping_commits_do_not_make_the_catalog_stale(tmp_path):
    from assets.build_record import catalog_build_rows, catalog_stale, input_versions
    from warehouse.registry import CATALOG_BUILD, RECONCILIATION

    lake = Lake(tmp_path)
    now = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)

    def reconciled(i: int) -> pl.DataFrame:
        row = {"table_name": "silver.telemetry", "partition": f"2026-11-{i + 1:02d}", "landed": 1, "clean": 1}
        row |= {"quarantined": 0, "duplicates": 0, "run_id": f"r{i}", "built_at": now}
        return pl.DataFrame([row], schema=RECONCILIATION.schema)

    for i in range(4):
        lake.append(RECONCILIATION, reconciled(i), run_id=f"r{i}")
    versions = input_versions(lake, [RECONCILIATION])
    lake.upsert(CATALOG_BUILD, catalog_build_rows(versions, "catalog", now), run_id="catalog")
    assert not catalog_stale(lake, [RECONCILIATION])

    report = housekeep_table(lake, RECONCILIATION, retention_hours=0, run_id="hk")
    assert report.files_compacted == 4 and report.after.version > versions[RECONCILIATION.name]
    assert not catalog_stale(lake, [RECONCILIATION])  # rows unchanged: the catalog still reflects them
    lake.append(RECONCILIATION, reconciled(9), run_id="r9")
    assert catalog_stale(lake, [RECONCILIATION])
