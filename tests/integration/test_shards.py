"""The telemetry day in shards: any K gives the unsharded tables; a build killed before its commit
leaves the last version readable and a re-run converges."""

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from assets.enterprise.master import read_master
from assets.telemetry.buckets import BUCKETS, bucket_of, equipment_buckets
from assets.telemetry.ingest import current_bronze, ingest_landing
from assets.telemetry.shards import DAY_TABLES, bucket_range, build_day, commit_day, shard_count
from assets.telemetry.transform import clean_telemetry
from assets.theme.energy import energy_daily, equipment_daily, last_meter_readings
from warehouse.registry import (
    BRONZE_TELEMETRY,
    ENERGY_DAILY,
    ENTERPRISE,
    EQUIPMENT,
    EQUIPMENT_DAILY,
    LANDING_FILES,
    QUARANTINE_TELEMETRY,
    SILVER_TELEMETRY,
)
from warehouse.storage import Lake

START = dt.date(2026, 11, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(3)]
RUN = "run"


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> Path:
    """A small simulated province (with defects of every class) ingested into bronze, master data loaded."""
    from simulator import generate

    home = tmp_path_factory.mktemp("shards")
    generate(
        home / "landing",
        home / "manifest.json",
        enterprises=12,
        days=3,
        start=START,
        seed=13,
        defect_rate=0.03,
    )
    lake = Lake(home / "lake")
    ingest_landing(home / "landing", lake, run_id="ingest")
    lake.overwrite(EQUIPMENT, read_master(home / "landing" / "master", EQUIPMENT), run_id="m")
    connected = read_master(home / "landing" / "master", ENTERPRISE)
    lake.overwrite(
        ENTERPRISE,
        connected.select(
            [
                (pl.col(n) if n in connected.columns else pl.lit(None)).cast(t).alias(n)
                for n, t in ENTERPRISE.schema.items()
            ]
        ),
        run_id="m",
    )
    return home / "lake"


def fresh_lake(landed: Path, tmp_path: Path) -> Lake:
    """A copy of the ingested lake with no day built yet."""
    shutil.copytree(landed, tmp_path / "lake")
    return Lake(tmp_path / "lake")


def tables(lake: Lake) -> dict[str, pl.DataFrame]:
    return {s.name: lake.read(s).sort(pl.all()) for s in DAY_TABLES}


def build_days(lake: Lake, shards: int, run_id: str = RUN) -> None:
    for day in DAYS:
        commit_day(lake, build_day(lake, day, run_id=run_id, shards=shards), run_id=run_id)


def unsharded(lake: Lake) -> dict[str, pl.DataFrame]:
    """The day build as one frame per day, through the same plain functions (the reference)."""
    equipment, enterprises = lake.read(EQUIPMENT), lake.read(ENTERPRISE)
    out: dict[str, list[pl.DataFrame]] = {s.name: [] for s in DAY_TABLES}
    previous = pl.DataFrame(schema=SILVER_TELEMETRY.schema)
    for day in DAYS:
        raw = current_bronze(
            lake.read(BRONZE_TELEMETRY, where=pl.col("reading_day") == pl.lit(day)), lake.read(LANDING_FILES)
        )
        r = clean_telemetry(raw, equipment, day=day, run_id=RUN)
        out[SILVER_TELEMETRY.name].append(r.clean)
        out[QUARANTINE_TELEMETRY.name].append(r.quarantined)
        out[ENERGY_DAILY.name].append(
            energy_daily(r.clean, last_meter_readings(previous), equipment, enterprises, day=day)
        )
        out[EQUIPMENT_DAILY.name].append(equipment_daily(r.clean, equipment, day=day))
        previous = r.clean
    return {n: pl.concat(fs).sort(pl.all()) for n, fs in out.items()}


def test_one_shard_and_seven_shards_give_the_unsharded_tables(landed, tmp_path):
    lake = fresh_lake(landed, tmp_path)
    reference = unsharded(lake)
    build_days(lake, shards=1)
    one = tables(lake)
    build_days(lake, shards=7)
    seven = tables(lake)
    assert reference[QUARANTINE_TELEMETRY.name].height > 0  # defects of every class were quarantined
    assert reference[ENERGY_DAILY.name]["electricity_kwh"].sum() > 0
    for name, ref in reference.items():
        assert one[name].equals(ref), name
        assert seven[name].equals(ref), name


def test_every_equipment_falls_in_exactly_one_shard_whatever_k(landed):
    ids = Lake(landed).read(BRONZE_TELEMETRY, columns=["equipment_id", "shard_bucket"])
    # the bucket kept on bronze is the stable hash of the trimmed id
    assert ids["shard_bucket"].to_list() == [bucket_of(e) for e in ids["equipment_id"].to_list()]
    assert equipment_buckets(pl.Series([" EQ-1 ", "EQ-1", None])).to_list() == [bucket_of("EQ-1")] * 2 + [0]
    for k in (1, 2, 7, 50, BUCKETS):
        ranges = [bucket_range(s, k) for s in range(k)]
        covered = [b for lo, hi in ranges for b in range(lo, hi + 1)]
        assert covered == list(range(BUCKETS))
    assert shard_count(10_000_000, 2_000_000) == 5 and shard_count(1, 2_000_000) == 1
    assert shard_count(10_000_000, 2_000_000, fixed=3) == 3


def test_bronze_rows_without_a_bucket_are_read_by_the_shard_of_their_equipment(landed, tmp_path):
    """Bronze written before shard_bucket existed (null bucket) is read once, by its equipment's shard."""
    from assets.telemetry.shards import read_shard_bronze

    src = Lake(landed)
    lake = Lake(tmp_path / "lake")
    bronze = src.read(BRONZE_TELEMETRY).filter(pl.col("reading_day") == DAYS[1])
    old = pl.col("equipment_id").str.ends_with("1") | pl.col("equipment_id").str.ends_with("4")
    mixed = bronze.with_columns(shard_bucket=pl.when(old).then(None).otherwise(pl.col("shard_bucket")))
    assert 0 < mixed["shard_bucket"].null_count() < mixed.height
    lake.overwrite(BRONZE_TELEMETRY, mixed, run_id="old")
    lake.overwrite(LANDING_FILES, src.read(LANDING_FILES), run_id="old")
    k = 5
    shards = [read_shard_bronze(lake, DAYS[1], s, k) for s in range(k)]
    for s, rows in enumerate(shards):
        lo, hi = bucket_range(s, k)
        assert rows["shard_bucket"].is_between(lo, hi).all() and rows["shard_bucket"].null_count() == 0
    key = ["source_file", "line_no"]
    got = pl.concat(shards).sort(key)
    assert got.select(key).equals(bronze.sort(key).select(key))  # every row once
    assert got["shard_bucket"].equals(bronze.sort(key)["shard_bucket"])  # in its equipment's bucket


CRASHING_BUILD = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from pathlib import Path
    from assets.telemetry.shards import build_day, commit_day
    from warehouse.storage import Lake

    lake, marker = Lake(Path(sys.argv[1])), Path(sys.argv[2])

    def after_shard(result):
        if result.shard == 2:  # three of seven shards staged their files
            marker.write_text("staged")
            time.sleep(600)  # killed here, before any commit

    build = build_day(lake, dt.date.fromisoformat(sys.argv[3]), run_id="crashed", shards=7, on_shard=after_shard)
    commit_day(lake, build, run_id="crashed")
    """
)


def test_a_build_killed_after_some_shards_leaves_the_last_version_and_a_rerun_converges(landed, tmp_path):
    lake = fresh_lake(landed, tmp_path)
    build_days(lake, shards=1)
    before = tables(lake)
    versions = {s.name: lake.version(s) for s in DAY_TABLES}
    day = DAYS[1]
    marker = tmp_path / "staged"
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_BUILD, str(lake.root), str(marker), day.isoformat()], cwd=os.getcwd()
    )
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the child never staged its shards"
    os.kill(proc.pid, signal.SIGKILL)  # a real kill -9 of the building process
    proc.wait()

    silver_folder = lake.path(SILVER_TELEMETRY) / f"day={day.isoformat()}"
    staged = [p for p in silver_folder.iterdir() if "-crashed-" in p.name]
    assert len(staged) == 3  # shards 0-2 wrote their files ...
    assert {s.name: lake.version(s) for s in DAY_TABLES} == versions  # ... and nothing was committed
    now = tables(lake)
    assert all(now[n].equals(before[n]) for n in before)  # readers see the last good version

    build_days(lake, shards=5, run_id="rerun")  # the next run: orphans removed, the day rebuilt
    after = tables(lake)
    for name, df in before.items():
        drop = ["quarantined_run_id"] if name == QUARANTINE_TELEMETRY.name else []
        assert after[name].drop(drop).equals(df.drop(drop)), name
    silver = lake.read(SILVER_TELEMETRY)
    assert silver.height == silver.select(SILVER_TELEMETRY.key).n_unique()  # no duplicate reading
    assert not [p for p in silver_folder.iterdir() if "-crashed-" in p.name]  # orphans gone
