"""The telemetry day build in shards: bronze of one local day -> silver, quarantine, energy, equipment.

A day is cut into K shards by a stable hash of the equipment id, so every reading of one equipment (and
its previous day's last meter readings) falls in one shard and every row rule, the deduplication, the
quality flags and the per-equipment themes give the same rows as one unsharded build. A shard is the
plain function `build_shard(ShardTask) -> ShardResult`: picklable values in (the lake's location, the
day, shard index and count, the previous day's meter tail), written data files and counts out; it
reads its own slice of bronze and the master data from the lake. No Dagster and no globals, so a shard
can run in this process, a process pool, or (later) a worker on another machine.

`build_day` runs the shards (one after another, a few at a time on threads, or in a process pool) and `commit_day` then
replaces the day's partition of each table in ONE Delta transaction with every shard's files, so a
reader never sees part of a day and a build that dies before its commit leaves the last day readable.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from assets.telemetry.buckets import BUCKETS, equipment_buckets
from assets.telemetry.ingest import current_bronze
from assets.telemetry.transform import clean_telemetry
from assets.theme.energy import METER_METRICS, energy_daily, equipment_daily, last_meter_readings
from warehouse.domain import KGCE_PER_UNIT
from warehouse.registry import (
    BRONZE_TELEMETRY,
    ENERGY_DAILY,
    ENTERPRISE,
    EQUIPMENT,
    EQUIPMENT_DAILY,
    LANDING_FILES,
    QUARANTINE_TELEMETRY,
    SILVER_TELEMETRY,
    TableSpec,
)
from warehouse.settings import LATE_WATERMARK_DAYS, Settings, lake_at
from warehouse.storage import Lake, StagedFile

DAY_TABLES: tuple[TableSpec, ...] = (SILVER_TELEMETRY, QUARANTINE_TELEMETRY, ENERGY_DAILY, EQUIPMENT_DAILY)


def bucket_range(shard: int, shards: int) -> tuple[int, int]:
    """Buckets [lo, hi] of shard `shard` of `shards`: contiguous, so file statistics skip the rest."""
    if not 0 <= shard < shards <= BUCKETS:
        raise ValueError(f"shard {shard} of {shards} (at most {BUCKETS} shards)")
    return -(-shard * BUCKETS // shards), -(-(shard + 1) * BUCKETS // shards) - 1


def shard_count(day_rows: int, shard_rows: int, fixed: int | None = None) -> int:
    """K: fixed if set, else enough shards that each holds at most `shard_rows` bronze rows."""
    if fixed:
        return max(1, min(BUCKETS, fixed))
    return max(1, min(BUCKETS, math.ceil(day_rows / max(1, shard_rows))))


# ---- shards --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardTask:
    """Everything one shard needs, as plain values (picklable, small)."""

    lake: str  # the lake's root: a folder or an s3:// URI (keys come from the worker's environment)
    day: dt.date
    shard: int
    shards: int
    run_id: str
    watermark_days: int = LATE_WATERMARK_DAYS
    future_tolerance: dt.timedelta | None = None  # None: the rule's default (quality.rules)
    kgce: dict[str, float] = field(default_factory=lambda: dict(KGCE_PER_UNIT))
    tail: pl.DataFrame | None = None  # previous day's last meter readings of this shard's equipment


def detached_head(df: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The first rows as a frame of their own. A `head()` is a zero-copy slice that keeps the whole
    shard's buffers alive: kept for the day's metadata, 25 shards' heads held 25 shards of silver in
    memory (the 50M day peaked at 7.5 GiB against 2.9 GiB at 10M)."""
    head = df.head(n)
    return pl.DataFrame(head.to_dict(as_series=False), schema=head.schema)


@dataclass
class ShardResult:
    """What a shard hands back: its staged files per table, its counts, and small frames."""

    shard: int
    staged: dict[str, list[StagedFile]]
    landed: int
    clean: int
    quarantined: int
    duplicates: int
    reasons: dict[str, int]
    flags: dict[str, int]
    equipment_reporting: int
    energy: pl.DataFrame  # one row per equipment: small, combined by the caller for its gate
    equipment: pl.DataFrame
    silver_head: pl.DataFrame
    quarantine_head: pl.DataFrame
    seconds: dict[str, float]
    peak_rss_bytes: int
    pid: int
    worker: str = ""  # the Celery worker that built it (server profile); empty when built on this host
    redelivered: bool = False  # the broker gave it to this worker again after another one died with it
    retries: int = 0  # attempts that raised an I/O error before this one (server profile)

    def __repr__(self) -> str:  # one short line (worker logs), not the frames
        files = sum(len(v) for v in self.staged.values())
        return f"ShardResult(shard={self.shard}, landed={self.landed}, clean={self.clean}, files={files})"


def read_shard_bronze(lake: Lake, day: dt.date, shard: int, shards: int) -> pl.DataFrame:
    """The day's current bronze rows of one shard's buckets (rows from before shard_bucket get theirs here)."""
    lo, hi = bucket_range(shard, shards)
    bucket = pl.col("shard_bucket")
    # one scan for both (each scan reads the day's file footers: ~30% of a shard's read at 50M)
    rows = lake.read(
        BRONZE_TELEMETRY,
        where=(pl.col("reading_day") == pl.lit(day)) & (bucket.is_between(lo, hi) | bucket.is_null()),
    )
    if rows["shard_bucket"].null_count():
        untagged = rows.filter(bucket.is_null())
        untagged = untagged.with_columns(equipment_buckets(untagged["equipment_id"]))
        rows = pl.concat([rows.filter(bucket.is_not_null()), untagged.filter(bucket.is_between(lo, hi))])
    return current_bronze(rows, lake.read(LANDING_FILES))


def shard_equipment(equipment: pl.DataFrame, raw: pl.DataFrame) -> pl.DataFrame:
    """The master rows of the equipment this shard's readings name (ids trimmed, as `clean_telemetry`
    matches them): every join and theme of a shard starts from its readings, and the whole master per
    shard made the day's theme work grow with K x master (50M -> 100M readings: 8.2 -> 21 s)."""
    ids = raw["equipment_id"].unique().str.strip_chars().unique().drop_nulls()
    return equipment.filter(pl.col("equipment_id").is_in(ids.implode()))


def build_shard(task: ShardTask) -> ShardResult:
    """Bronze slice + previous-day tail + master data -> staged silver, quarantine, energy, equipment files."""
    seconds: dict[str, float] = {}
    lake = lake_at(task.lake)

    def phase(name: str, t0: float) -> float:
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - t0
        return now

    t = time.perf_counter()
    raw = read_shard_bronze(lake, task.day, task.shard, task.shards)
    equipment, enterprises = shard_equipment(lake.read(EQUIPMENT), raw), lake.read(ENTERPRISE)
    t = phase("read", t)
    result = clean_telemetry(
        raw,
        equipment,
        day=task.day,
        run_id=task.run_id,
        watermark_days=task.watermark_days,
        future_tolerance=task.future_tolerance,
    )
    del raw
    t = phase("clean", t)
    tail = task.tail if task.tail is not None else _empty_tail()
    energy = energy_daily(result.clean, tail, equipment, enterprises, day=task.day, kgce=task.kgce)
    operations = equipment_daily(result.clean, equipment, day=task.day)
    t = phase("themes", t)
    tag = f"s{task.shard:03d}of{task.shards:03d}"
    frames = (
        (SILVER_TELEMETRY, result.clean),
        (QUARANTINE_TELEMETRY, result.quarantined),
        (ENERGY_DAILY, energy),
        (EQUIPMENT_DAILY, operations),
    )
    staged = {
        spec.name: lake.stage_files(spec, task.day, df, run_id=task.run_id, tag=tag) for spec, df in frames
    }
    phase("stage", t)
    return ShardResult(
        shard=task.shard,
        staged=staged,
        landed=result.landed,
        clean=result.clean.height,
        quarantined=result.quarantined.height,
        duplicates=result.duplicates,
        reasons=result.reasons,
        flags=result.flags,
        equipment_reporting=result.clean["equipment_id"].n_unique(),
        energy=energy,
        equipment=operations,
        silver_head=detached_head(result.clean),
        quarantine_head=detached_head(result.quarantined),
        seconds=seconds,
        peak_rss_bytes=peak_rss_bytes(),
        pid=os.getpid(),
    )


def _empty_tail() -> pl.DataFrame:
    return pl.DataFrame(schema=SILVER_TELEMETRY.schema)


def peak_rss_bytes() -> int:
    """This process's RSS high-water mark (VmHWM; 0 where /proc is absent)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ---- the day ------------------------------------------------------------------------------------


@dataclass
class DayBuild:
    """The shards of one day, combined: staged files per table and exact totals."""

    day: dt.date
    shards: list[ShardResult]
    seconds: dict[str, float]

    def staged(self, spec: TableSpec) -> list[StagedFile]:
        return [f for s in self.shards for f in s.staged[spec.name]]

    @property
    def landed(self) -> int:
        return sum(s.landed for s in self.shards)

    @property
    def clean(self) -> int:
        return sum(s.clean for s in self.shards)

    @property
    def quarantined(self) -> int:
        return sum(s.quarantined for s in self.shards)

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.shards)

    @property
    def reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.shards:
            for k, v in s.reasons.items():
                out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))

    @property
    def flags(self) -> dict[str, int]:
        return {f: sum(s.flags.get(f, 0) for s in self.shards) for f in ("good", "uncertain", "bad")}

    @property
    def equipment_reporting(self) -> int:
        return sum(s.equipment_reporting for s in self.shards)  # equipment never spans shards

    @property
    def energy(self) -> pl.DataFrame:
        return pl.concat([s.energy for s in self.shards]).sort("equipment_id")

    @property
    def equipment(self) -> pl.DataFrame:
        return pl.concat([s.equipment for s in self.shards]).sort("equipment_id")

    @property
    def rows_per_shard(self) -> list[int]:
        return [s.landed for s in self.shards]

    @property
    def peak_rss_bytes(self) -> int:
        return max([s.peak_rss_bytes for s in self.shards] + [peak_rss_bytes()])


def day_bronze_rows(lake: Lake, day: dt.date) -> int:
    """Bronze rows routed to the day (reads one column): what K is sized from."""
    if not lake.exists(BRONZE_TELEMETRY):
        return 0
    where = pl.col("reading_day") == pl.lit(day)
    return lake.read(BRONZE_TELEMETRY, where=where, columns=["reading_day"]).height


def previous_tails(lake: Lake, day: dt.date, shards: int) -> list[pl.DataFrame]:
    """The previous day's last meter reading per (equipment, meter), cut into the shards' pieces."""
    previous = lake.read(
        SILVER_TELEMETRY,
        partition=day - dt.timedelta(days=1),
        where=pl.col("metric").is_in(METER_METRICS),
        columns=["equipment_id", "metric", "ts_utc", "value", "quality_flag"],
    )
    tail = last_meter_readings(previous)
    del previous
    buckets = equipment_buckets(tail["equipment_id"])
    return [tail.filter(buckets.is_between(*bucket_range(k, shards))) for k in range(shards)]


def build_day(
    lake: Lake,
    day: dt.date,
    *,
    run_id: str,
    shards: int,
    workers: int = 1,
    watermark_days: int = LATE_WATERMARK_DAYS,
    future_tolerance: dt.timedelta | None = None,
    kgce: dict[str, float] | None = None,
    on_shard: Callable[[ShardResult], None] | None = None,
    executor: str = "local",
) -> DayBuild:
    """Every shard of the day built and staged (nothing committed yet).

    Files of an earlier build of this day that died before its commit are removed first. With
    `workers` > 1 the shards run `workers` at a time on threads of this process; with
    `executor="processes"` in a pool of fresh processes (spawned: no forked polars threads), one shard
    each; with `executor="celery"` as tasks on the Celery workers (`assets.telemetry.workers`).
    """
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    for spec in DAY_TABLES:
        lake.remove_orphans(spec, day)
    tails = previous_tails(lake, day, shards)
    seconds["prepare"] = time.perf_counter() - t0
    tasks = [
        ShardTask(
            lake=lake.uri,
            day=day,
            shard=k,
            shards=shards,
            run_id=run_id,
            watermark_days=watermark_days,
            future_tolerance=future_tolerance,
            kgce=dict(kgce or KGCE_PER_UNIT),
            tail=tails[k],
        )
        for k in range(shards)
    ]
    results: list[ShardResult] = []
    t1 = time.perf_counter()
    if executor == "celery":
        from assets.telemetry.workers import run_on_workers

        results = run_on_workers(tasks, on_shard=on_shard)
    elif workers > 1 and shards > 1 and executor == "local":
        from concurrent.futures import ThreadPoolExecutor

        # `workers` shards at a time on threads of this process (polars and the Parquet writer release
        # the GIL): no process to start and import into, and one shard's writing overlaps another's work
        with ThreadPoolExecutor(max_workers=min(workers, shards), thread_name_prefix="shard") as pool:
            for r in pool.map(build_shard, tasks):
                results.append(r)
                if on_shard is not None:
                    on_shard(r)
    elif workers > 1 and shards > 1:  # executor="processes": each shard in a fresh process of its own
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        # one shard per worker process: memory freed by a shard goes back to the system, not to a heap
        pool = ProcessPoolExecutor(max_workers=min(workers, shards), mp_context=ctx, max_tasks_per_child=1)
        with pool:
            for r in pool.map(build_shard, tasks):
                results.append(r)
                if on_shard is not None:
                    on_shard(r)
    else:
        for task in tasks:
            r = build_shard(task)
            results.append(r)
            if on_shard is not None:
                on_shard(r)
    seconds["shards"] = time.perf_counter() - t1
    for r in results:
        for k, v in r.seconds.items():
            seconds[f"shards.{k}"] = seconds.get(f"shards.{k}", 0.0) + v
    return DayBuild(day=day, shards=results, seconds=seconds)


def commit_day(
    lake: Lake, build: DayBuild, tables: tuple[TableSpec, ...] = DAY_TABLES, *, run_id: str
) -> dict[str, int]:
    """One Delta transaction per table replacing the day's partition with all shards' files."""
    t0 = time.perf_counter()
    versions = {
        spec.name: lake.commit_partition(spec, build.day, build.staged(spec), run_id=run_id)
        for spec in tables
    }
    build.seconds["commit"] = build.seconds.get("commit", 0.0) + time.perf_counter() - t0
    return versions


def read_staged(lake: Lake, spec: TableSpec, f: StagedFile) -> pl.DataFrame:
    """One staged file's rows (one shard's part of the day): what the gate validates shard by shard."""
    return lake.read_staged(spec, f)


def build_home_day(settings: Settings, lake: Lake, day: dt.date, *, run_id: str) -> DayBuild:
    """build_day with the home's settings: K shards from the day's bronze rows and the shard size (or a
    fixed count), on local processes or the server profile's Celery workers."""
    return build_day(
        lake,
        day,
        run_id=run_id,
        shards=shard_count(day_bronze_rows(lake, day), settings.shard_rows, settings.shards),
        workers=settings.shard_workers,
        watermark_days=settings.late_watermark_days,
        future_tolerance=settings.future_tolerance,
        kgce=settings.kgce,
        executor=settings.shard_executor,
    )
