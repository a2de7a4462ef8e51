"""The three engines over the same landing files of one local day, each writing per-equipment energy.

* `ours`: the project's own functions, called as the Dagster assets call them: landing -> bronze
  (`ingest_landing` into a fresh Lake) -> the day build in shards (`build_day`: silver, quarantine,
  `theme.energy_daily`, `theme.equipment_daily` per shard, `commit_day`: one Delta commit per table).
* `bare_polars`: the same logical work written directly in polars (one lazy query), in bench/bare.py.
* `bare_duckdb`: the same in DuckDB SQL, in bench/bare.py.

The bare engines get clean data (defect_rate 0) and so need no quarantine or flag logic; they do read all
fields as text, parse timestamps with offset or as local Asia/Shanghai time, normalise units through
UNIT_CONVERSIONS, deduplicate on equipment x metric x timestamp (latest landed file wins), keep the local
day, and compute meter consumption exactly as `assets/theme/energy.py` (`meter_consumption`) does.
Each writes `COMPARE_COLUMNS` per equipment to a Parquet file that the parent compares across engines.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

COMPARE_COLUMNS = (
    "equipment_id",
    "electricity_kwh",
    "natural_gas_m3",
    "coal_t",
    "energy_tce",
    "peak_load_kw",
    "mean_load_kw",
)
RUN_ID = "bench"


# --- ours ---------------------------------------------------------------------------------------


def ours(spec: dict, steps) -> dict:
    """The lakehouse's own day, through the plain functions the Dagster assets call, phase by phase:

    master data into the lake (as `silver.equipment` / the golden record's current rows), landing ->
    bronze (`ingest_landing`: parse, route, streamed bronze commit, ledger), then the day build
    (`shard_count` from the day's bronze rows, `build_day`: K shards each reading its bronze slice and
    writing silver, quarantine, energy and equipment files, `commit_day`: one Delta commit per table).
    """
    import shutil

    from assets.enterprise.master import read_master
    from assets.telemetry.ingest import ingest_landing
    from assets.telemetry.shards import build_day, commit_day, day_bronze_rows, shard_count
    from warehouse.registry import ENTERPRISE, EQUIPMENT
    from warehouse.settings import load_settings
    from warehouse.storage import Lake

    landing, lake_root, day = Path(spec["landing"]), Path(spec["lake"]), dt.date.fromisoformat(spec["day"])
    shutil.rmtree(lake_root, ignore_errors=True)
    lake = Lake(lake_root)
    settings = load_settings()
    shard_rows = int(spec.get("shard_rows") or settings.shard_rows)
    workers = int(spec.get("shard_workers") or settings.shard_workers)

    with steps.step("master"):
        equipment, notes = _master(read_master, landing / "master", EQUIPMENT)
        enterprises, more = _master(read_master, landing / "master", ENTERPRISE)
        notes += more
        lake.overwrite(EQUIPMENT, equipment, run_id=RUN_ID)
        lake.overwrite(ENTERPRISE, enterprises, run_id=RUN_ID)
        del equipment, enterprises

    with steps.step("ingest"):  # ingest_telemetry: parse, route, streamed bronze commit, ledger
        result = ingest_landing(landing, lake, run_id=RUN_ID)
    for name, sec in result.seconds.items():
        steps.seconds[f"ingest.{name}"] = sec
    rejected = result.count("rejected")
    if rejected:
        raise RuntimeError(f"{rejected} landing files rejected: the cached landing folder was modified")

    with steps.step("day"):  # build_telemetry_day
        with steps.step("day.plan"):
            k = shard_count(day_bronze_rows(lake, day), shard_rows, spec.get("shards"))
        with steps.step("day.shards"):
            build = build_day(lake, day, run_id=RUN_ID, shards=k, workers=workers)
        with steps.step("day.commit"):
            commit_day(lake, build, run_id=RUN_ID)
    for name, sec in build.seconds.items():
        if name.startswith("shards."):
            steps.seconds[f"day.{name}"] = sec  # summed over shards (CPU-side phases inside build_shard)
    steps.seconds["day.prepare"] = build.seconds.get("prepare", 0.0)
    steps.seconds["total"] = steps.seconds["ingest"] + steps.seconds["day"]
    df = build.energy
    df.select(COMPARE_COLUMNS).write_parquet(spec["output"])
    return {
        "notes": notes,
        "rows_in": result.records,
        "landed": build.landed,
        "clean": build.clean,
        "quarantined": build.quarantined,
        "quarantine_reasons": build.reasons,
        "duplicates": build.duplicates,
        "equipment_rows": df.height,
        "shards": k,
        "shard_workers": workers,
        "rows_per_shard": build.rows_per_shard,
        "shard_peak_rss": max(s.peak_rss_bytes for s in build.shards) if build.shards else 0,
        "shard_pids": sorted({s.pid for s in build.shards}),
        "lake_bytes": sum(p.stat().st_size for p in lake_root.rglob("*") if p.is_file()),
    }


def _master(read_master, folder: Path, spec) -> tuple:
    """`read_master` as the asset calls it, with every declared column (the telemetry master export
    lists the connected enterprises only: the golden record's other columns are null here, valid_to
    null = current); if the export lacks newly declared columns, a note saying so."""
    import polars as pl

    notes = []
    try:
        df = read_master(folder, spec)
    except ValueError as exc:
        from assets.enterprise.master import MASTER_FILES

        df = pl.read_parquet(folder / MASTER_FILES[spec.name]).unique(subset=list(spec.key), keep="last")
        notes.append(f"read_master fallback: {exc}")
    cols = [(pl.col(n) if n in df.columns else pl.lit(None)).cast(t).alias(n) for n, t in spec.schema.items()]
    return df.select(cols), notes


# --- comparison (parent side) ---------------------------------------------------------------------


def compare_outputs(reference: Path, other: Path, *, rel: float = 1e-6, label: str = "") -> list[str]:
    """Differences between two engines' per-equipment outputs; empty when they agree.

    Energy columns within `rel` relative (1e-12 absolute near zero), peak load exactly, mean load
    within 1e-9 relative (summation order differs between engines); nulls must match.
    """
    import polars as pl

    floats = {c: pl.Float64 for c in COMPARE_COLUMNS if c != "equipment_id"}
    a = pl.read_parquet(reference).select(COMPARE_COLUMNS).cast(floats).sort("equipment_id")  # type: ignore[arg-type]
    b = pl.read_parquet(other).select(COMPARE_COLUMNS).cast(floats).sort("equipment_id")  # type: ignore[arg-type]
    problems = []
    if a["equipment_id"].to_list() != b["equipment_id"].to_list():
        only_a = sorted(set(a["equipment_id"]) - set(b["equipment_id"]))[:5]
        only_b = sorted(set(b["equipment_id"]) - set(a["equipment_id"]))[:5]
        return [
            f"{label}: equipment differ ({a.height} vs {b.height} rows; only in reference {only_a}, only in other {only_b})"
        ]
    joined = a.join(b, on="equipment_id", suffix="_o")
    tolerances = {
        "electricity_kwh": rel,
        "natural_gas_m3": rel,
        "coal_t": rel,
        "energy_tce": rel,
        "peak_load_kw": 0.0,
        "mean_load_kw": 1e-9,
    }
    for col, tol in tolerances.items():
        x, y = pl.col(col), pl.col(f"{col}_o")
        bad = joined.filter(
            (x.is_null() != y.is_null())
            | ((x - y).abs() > tol * pl.max_horizontal(x.abs(), y.abs()) + (1e-12 if tol else 0.0)).fill_null(
                False
            )
        )
        if bad.height:
            sample = bad.select("equipment_id", col, f"{col}_o").head(3).rows()
            problems.append(f"{label}: {col} differs for {bad.height} equipment, e.g. {sample}")
    return problems
