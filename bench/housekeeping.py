"""Analyst queries over a Delta view before and after housekeeping, against one compacted file.

    python -m bench.housekeeping [--days 365] [--commits-per-day 4] [--runs 30] [--work DIR]

The year of bench.analyst (16 cities x 24 industries x `days` local days, shaped like theme.energy_daily
rolled up) is written as a Delta table laid out as the themes are (`month_files`: built by day, files merged
by month) the way a year of builds and late data leaves it: `commits_per_day` appends per day, so every day
holds that many small files and the log that many commits per day. The analyst queries of bench.analyst are
timed through DuckDB views over `delta_scan` before and after the housekeeping steps (warehouse.storage.Lake:
each month merged into one file ordered by day, city and industry, VACUUM with retention 0, checkpoint), and
over the same rows as one compacted file (one unpartitioned Delta commit), fresh and with the checkpoint
housekeeping gives every table it keeps: DuckDB's delta_scan pays a fixed ~8 ms a query to read a checkpoint,
so the checkpointed file is the like-for-like reference for a housekept table. All tables are timed in one
session, their runs interleaved. Files and bytes on disk before and after are reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench.data import READY, cached_build
from bench.machine import work_dir_of

SINGLE = "delta_single_file"
# the one file after housekeeping's checkpoint step: what a one-file table kept for years reads like
SINGLE_KEPT = "delta_single_file_checkpointed"


def day_table(
    name: str,
    columns: tuple,
    *,
    key: tuple[str, ...],
    owner: str,
    description: str,
    month_files: bool = True,
):
    """A table laid out like the themes housekeeping keeps: built by local day, its files merged by month
    (`month_files`; False: Delta-partitioned by day, as the per-reading tables), ordered by city and
    industry. The bench's year and the housekeeping unit tests' readings are both of this shape."""
    from warehouse.registry import TableSpec

    return TableSpec(
        name=name,
        columns=columns,
        description=description,
        domain="production",
        grade=1,
        owner=owner,
        partition_by="day",
        key=key,
        cluster_by=("city_code", "industry_code"),
        month_files=month_files,
    )


def _spec():
    import polars as pl

    from warehouse.registry import Column

    columns = (
        Column("day", pl.Date, "Local day"),
        Column("city_code", pl.String, "Prefecture"),
        Column("industry_code", pl.String, "Division"),
        Column("equipment", pl.Int64, "Equipment reporting"),
        Column("electricity_kwh", pl.Float64, "kWh"),
        Column("natural_gas_m3", pl.Float64, "m3"),
        Column("coal_t", pl.Float64, "t"),
        Column("energy_tce", pl.Float64, "tce"),
        Column("peak_load_kw", pl.Float64, "kW"),
    )
    key = ("day", "city_code", "industry_code")
    return day_table(
        "theme.bench_energy_rollup",
        columns,
        key=key,
        owner="bench",
        description="bench: the analyst roll-up year",
    )


def build(root: Path, days: int, commits_per_day: int) -> dict:
    """The year as many small commits per day (a copy is housekept, this one stays as it is); cached."""
    import polars as pl
    from deltalake import write_deltalake

    from bench.analyst import build as analyst_build
    from warehouse.storage import Lake

    layout = (
        "month_files" if _spec().month_files else "day_partitions"
    )  # a cache of the other layout is stale
    if (info := cached_build(root, days=days, commits_per_day=commits_per_day, layout=layout)) is not None:
        return info
    data = analyst_build(root.parent / "analyst", days)
    frame = pl.read_parquet(root.parent / "analyst" / "energy_rollup.parquet")
    spec, lake = _spec(), Lake(root / "lake")
    t0 = time.perf_counter()
    for k in range(commits_per_day):  # each pass adds one small file to every day partition
        part = frame.filter(pl.int_range(pl.len()) % commits_per_day == k)
        for _, day_rows in part.group_by("day", maintain_order=True):
            lake.append(spec, day_rows, run_id=f"bench-{k}")
    write_deltalake(str(root / SINGLE), frame.to_arrow(), mode="overwrite")
    info = {
        "rows": frame.height,
        "days": days,
        "commits_per_day": commits_per_day,
        "layout": layout,
        "cities": data["cities"],
        "industries": data["industries"],
        "write_seconds": time.perf_counter() - t0,
    }
    (root / READY).write_text(json.dumps(info, indent=1))
    return info


def _usage(lake, spec) -> dict:
    live = lake.live_files(spec)
    files, size = lake.disk_usage(spec)
    log = lake.path(spec) / "_delta_log"
    return {
        "live_files": live.height,
        "live_bytes": int(live["size_bytes"].sum() or 0),
        "disk_files": files,
        "disk_bytes": size,
        "log_files": sum(1 for _ in log.iterdir()),
        "version": lake.version(spec),
    }


def _time_queries(tables: dict[str, Path], runs: int) -> tuple[dict, dict]:
    """p50 / p95 of each query over each table, all in one DuckDB session, the runs interleaved (one run
    of every table in turn), so that load on a shared machine falls on every table alike."""
    import duckdb

    from bench.analyst import QUERIES, _quantile
    from warehouse.serving.delta import DELTA_EXTENSION

    con = duckdb.connect()
    con.execute(f"LOAD '{DELTA_EXTENSION}'")
    for src, path in tables.items():
        con.execute(f"CREATE VIEW {src} AS SELECT * FROM delta_scan('{path}')")
    timings: dict[str, dict] = {}
    answers: dict[str, dict] = {}
    for name, sql in QUERIES.items():
        times: dict[str, list[float]] = {src: [] for src in tables}
        for src in tables:
            answers.setdefault(src, {})[name] = con.execute(sql.format(src=src)).fetchall()  # warm-up
        for _ in range(runs):
            for src in tables:
                t0 = time.perf_counter()
                con.execute(sql.format(src=src)).fetchall()
                times[src].append(time.perf_counter() - t0)
        timings[name] = {
            src: {"runs": runs, "p50_ms": 1000 * statistics.median(t), "p95_ms": 1000 * _quantile(t, 0.95)}
            for src, t in times.items()
        }
    con.close()
    return timings, answers


def housekeeping_task(spec: dict, steps) -> dict:
    from deltalake import DeltaTable

    from bench.analyst import _same
    from warehouse.storage import Lake

    root, runs = Path(spec["root"]), int(spec.get("runs", 30))
    days, per_day = int(spec.get("days", 365)), int(spec.get("commits_per_day", 4))
    with steps.step("build"):
        info = build(root, days, per_day)
    table = _spec()
    copies = {}
    shutil.rmtree(root / "work", ignore_errors=True)
    for src in ("delta_before", "delta_checkpoint_only", "delta_after"):  # the cached build stays as built
        copies[src] = root / "work" / src
        shutil.copytree(root / "lake", copies[src])
    lake = Lake(copies["delta_after"])
    usage = {"before": _usage(lake, table)}
    seconds = {}
    t0 = time.perf_counter()
    Lake(copies["delta_checkpoint_only"]).checkpoint(table)
    seconds["checkpoint_only"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = lake.compact(
        table, lake.small_file_partitions(table), run_id="bench", cluster_by=table.cluster_by
    )
    seconds["compact"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    vacuumed = lake.vacuum(table, retention_hours=0, run_id="bench")
    seconds["vacuum"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lake.checkpoint(table)
    seconds["checkpoint"] = time.perf_counter() - t0
    usage["after"] = _usage(lake, table)
    single_kept = root / "work" / SINGLE_KEPT  # the one file with the checkpoint housekeeping writes
    shutil.copytree(root / SINGLE, single_kept)
    DeltaTable(str(single_kept)).create_checkpoint()
    tables = {src: Lake(path).path(table) for src, path in copies.items()}
    tables |= {SINGLE: root / SINGLE, SINGLE_KEPT: single_kept}
    with steps.step("queries"):
        by_query, answers = _time_queries(tables, runs)
    for name, ref in answers["delta_before"].items():
        for src in tables:
            if not _same(ref, answers[src][name]):
                raise AssertionError(f"housekeeping bench: {name} answers differ in {src}")
    return {
        "data": info,
        "usage": usage,
        "housekeeping_seconds": seconds,
        "files_compacted": int(metrics.get("numFilesRemoved", 0)),
        "files_vacuumed": len(vacuumed),
        "queries": by_query,
        "ratio_after_to_single_p95": {
            q: v["delta_after"]["p95_ms"] / v[SINGLE]["p95_ms"] for q, v in by_query.items()
        },
        "ratio_after_to_single_kept_p95": {
            q: v["delta_after"]["p95_ms"] / v[SINGLE_KEPT]["p95_ms"] for q, v in by_query.items()
        },
    }


def summary_lines(r: dict) -> list[str]:
    b, a = r["usage"]["before"], r["usage"]["after"]
    mib = 1 << 20
    lines = [
        f"housekeeping: {r['data']['days']} day partitions x {r['data']['commits_per_day']} commits: live files "
        f"{b['live_files']} -> {a['live_files']}, on disk {b['disk_files']} files / {b['disk_bytes'] / mib:.2f} MiB "
        f"-> {a['disk_files']} / {a['disk_bytes'] / mib:.2f} MiB, log files {b['log_files']} -> {a['log_files']}; "
        + ", ".join(f"{k} {v:.1f}s" for k, v in r["housekeeping_seconds"].items())
    ]
    for q, by_src in r["queries"].items():
        lines.append(
            f"  {q}: "
            + ", ".join(f"{s} p50 {v['p50_ms']:.0f} / p95 {v['p95_ms']:.0f} ms" for s, v in by_src.items())
            + f" (after / single p95 {r['ratio_after_to_single_p95'][q]:.1f}x, after / single with its "
            f"checkpoint {r['ratio_after_to_single_kept_p95'][q]:.1f}x)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    from bench.child import Steps

    p = argparse.ArgumentParser(prog="python -m bench.housekeeping", description=__doc__.split("\n")[0])
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--commits-per-day", type=int, default=4)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--work", type=Path, default=work_dir_of(None) / "housekeeping")
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    a = p.parse_args(argv)
    steps = Steps()
    try:
        r = housekeeping_task(
            {
                "root": str(a.work.resolve()),
                "days": a.days,
                "commits_per_day": a.commits_per_day,
                "runs": a.runs,
            },
            steps,
        )
    finally:
        steps.close()
    for line in summary_lines(r):
        print(line)
    if a.json:
        a.json.write_text(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
