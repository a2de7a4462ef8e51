"""The bare engines of the benchmark: the lakehouse's day written directly in polars (one lazy query)
and in DuckDB SQL, over the same landing files, each writing `COMPARE_COLUMNS` per equipment (see
bench/engines.py for what they must compute alike)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.engines import COMPARE_COLUMNS
from warehouse.contracts import TELEMETRY_FIELDS as FIELDS

# --- bare polars ----------------------------------------------------------------------------------


def _reference_frames():
    import polars as pl

    from warehouse.domain import KGCE_PER_UNIT, METRICS, UNIT_CONVERSIONS

    units = pl.DataFrame(
        {
            "unit": list(UNIT_CONVERSIONS),
            "factor": [v[1] for v in UNIT_CONVERSIONS.values()],
            "offset": [v[2] for v in UNIT_CONVERSIONS.values()],
        }
    )
    meters = pl.DataFrame(
        {
            "metric": [m.name for m in METRICS.values() if m.kind == "cumulative"],
            "carrier": [m.carrier for m in METRICS.values() if m.kind == "cumulative"],
            "register_size": [m.register_size for m in METRICS.values() if m.kind == "cumulative"],
        },
        schema_overrides={"register_size": pl.Float64},
    )
    return units, meters, KGCE_PER_UNIT


def bare_polars(spec: dict, steps) -> dict:
    import polars as pl

    from assets.telemetry.transform import ROLLOVER_SHARE
    from bench.data import landing_files
    from warehouse.domain import TIMEZONE

    landing, day = Path(spec["landing"]), dt.date.fromisoformat(spec["day"])
    with steps.step("total"):
        with steps.step("list_files"):
            files = landing_files(landing)
            rank = {str(p): i for i, p in enumerate(files)}
            by_suffix = {
                s: [str(p) for p in files if p.suffix.lower() == s] for s in (".csv", ".jsonl", ".parquet")
            }
        text = {f: pl.String for f in FIELDS}
        scans = []
        if by_suffix[".csv"]:
            scans.append(
                pl.scan_csv(
                    by_suffix[".csv"], infer_schema=False, include_file_paths="file", row_index_name="row"
                ).select(*FIELDS, "file", "row")
            )
        if by_suffix[".jsonl"]:
            scans.append(
                pl.scan_ndjson(
                    by_suffix[".jsonl"], schema=text, include_file_paths="file", row_index_name="row"
                ).select(*FIELDS, "file", "row")
            )
        if by_suffix[".parquet"]:
            scans.append(
                pl.scan_parquet(
                    by_suffix[".parquet"], include_file_paths="file", row_index_name="row"
                ).select(*[pl.col(f).cast(pl.String) for f in FIELDS], "file", "row")
            )
        units, meters, kgce = _reference_frames()
        tz = ZoneInfo(TIMEZONE)
        day_start = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
        day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(dt.UTC)
        # ISO 8601 with an offset (or Z) as given, without one as local Asia/Shanghai time.
        ts = pl.col("ts").str.strip_chars().str.replace(" ", "T", literal=True).str.replace(r"Z$", "+00:00")
        ts_utc = (
            pl.when(ts.str.contains(r"[+-]\d{2}:?\d{2}$"))
            .then(ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC"))
            .otherwise(
                ts.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
                .dt.replace_time_zone(TIMEZONE, ambiguous="earliest", non_existent="null")
                .dt.convert_time_zone("UTC")
            )
        )
        readings = (
            pl.concat(scans, how="vertical")
            .with_columns(
                equipment_id=pl.col("equipment_id").str.strip_chars(),
                metric=pl.col("metric").str.strip_chars(),
                unit=pl.col("unit").fill_null("").str.strip_chars(),
                ts_utc=ts_utc,
                # latest landed wins: files in listing order, lines in file order
                order=pl.col("file").replace_strict(rank, return_dtype=pl.Int64) * (1 << 32) + pl.col("row"),
            )
            .filter((pl.col("ts_utc") >= day_start) & (pl.col("ts_utc") < day_end))  # local day, in UTC
            .join(units.lazy(), on="unit", how="inner")
            .select(
                "equipment_id",
                "metric",
                "ts_utc",
                "order",
                value=pl.col("value").str.strip_chars().cast(pl.Float64, strict=False) * pl.col("factor")
                + pl.col("offset"),
            )
            .sort("order")
            .unique(subset=["equipment_id", "metric", "ts_utc"], keep="last")
        )
        prev = pl.col("value").shift(1).over(["equipment_id", "metric"], order_by="ts_utc")
        delta = pl.col("value") - prev
        used = (
            pl.when(prev.is_null())
            .then(0.0)
            .when(delta >= 0)
            .then(delta)
            .when(prev > ROLLOVER_SHARE * pl.col("register_size"))
            .then(pl.col("value") + pl.col("register_size") - prev)
            .otherwise(pl.col("value"))
            .fill_null(0.0)
        )
        energy = (
            readings.join(meters.lazy(), on="metric", how="inner")
            .with_columns(used=used)
            .group_by("equipment_id")
            .agg(
                electricity_kwh=pl.col("used").filter(pl.col("carrier") == "electricity").sum(),
                natural_gas_m3=pl.col("used").filter(pl.col("carrier") == "natural_gas").sum(),
                coal_t=pl.col("used").filter(pl.col("carrier") == "coal").sum(),
                has_e=(pl.col("carrier") == "electricity").any(),
                has_g=(pl.col("carrier") == "natural_gas").any(),
                has_c=(pl.col("carrier") == "coal").any(),
            )
            .with_columns(
                electricity_kwh=pl.when("has_e").then("electricity_kwh"),
                natural_gas_m3=pl.when("has_g").then("natural_gas_m3"),
                coal_t=pl.when("has_c").then("coal_t"),
            )
        )
        load = (
            readings.filter(pl.col("metric") == "power")
            .group_by("equipment_id")
            .agg(peak_load_kw=pl.col("value").max(), mean_load_kw=pl.col("value").mean())
        )
        tce = (
            pl.col("electricity_kwh").fill_null(0.0) * kgce["electricity"]
            + pl.col("natural_gas_m3").fill_null(0.0) * kgce["natural_gas"]
            + pl.col("coal_t").fill_null(0.0) * kgce["coal"]
        ) / 1000
        out_lf = (
            readings.select("equipment_id")
            .unique()
            .join(energy, on="equipment_id", how="left")
            .join(load, on="equipment_id", how="left")
            .with_columns(energy_tce=tce)
            .select(COMPARE_COLUMNS)
            .sort("equipment_id")
        )
        with steps.step("query"):
            out = out_lf.collect(engine=spec.get("polars_engine", "auto"))
        with steps.step("write"):
            out.write_parquet(spec["output"])
    return {"equipment_rows": out.height, "files": len(files)}


# --- bare DuckDB ----------------------------------------------------------------------------------

_DUCKDB_SQL = """
WITH landed AS (
    {sources}
),
typed AS (
    SELECT
        l.equipment_id,
        l.metric,
        -- ISO 8601: the offset as given; none: the session zone, Asia/Shanghai. (Casts skip blanks.)
        TRY_CAST(l.ts AS TIMESTAMPTZ) AS ts,
        TRY_CAST(l.value AS DOUBLE) * u.factor + u."offset" AS value,
        l.filename
    FROM landed l JOIN units u ON u.unit = coalesce(l.unit, '')
),
readings AS (  -- the local day [00:00, 24:00) Asia/Shanghai, deduplicated: the latest landed file wins
    SELECT equipment_id, metric, ts, arg_max(value, filename) AS value
    FROM typed
    WHERE ts >= TIMESTAMPTZ '{day} 00:00:00 {tz}' AND ts < TIMESTAMPTZ '{next_day} 00:00:00 {tz}'
    GROUP BY equipment_id, metric, ts
),
deltas AS (
    SELECT r.equipment_id, m.carrier, m.register_size, r.value,
           lag(r.value) OVER (PARTITION BY r.equipment_id, r.metric ORDER BY r.ts) AS prev
    FROM readings r JOIN meters m USING (metric)
),
used AS (
    SELECT equipment_id, carrier,
           coalesce(CASE WHEN prev IS NULL THEN 0.0
                         WHEN value - prev >= 0 THEN value - prev
                         WHEN prev > {rollover} * register_size THEN value + register_size - prev
                         ELSE value END, 0.0) AS used
    FROM deltas
),
energy AS (
    SELECT equipment_id,
           CASE WHEN bool_or(carrier = 'electricity') THEN sum(used) FILTER (carrier = 'electricity') END
               AS electricity_kwh,
           CASE WHEN bool_or(carrier = 'natural_gas') THEN sum(used) FILTER (carrier = 'natural_gas') END
               AS natural_gas_m3,
           CASE WHEN bool_or(carrier = 'coal') THEN sum(used) FILTER (carrier = 'coal') END AS coal_t
    FROM used GROUP BY equipment_id
),
load AS (
    SELECT equipment_id, max(value) AS peak_load_kw, avg(value) AS mean_load_kw
    FROM readings WHERE metric = 'power' GROUP BY equipment_id
)
SELECT e.equipment_id, energy.electricity_kwh, energy.natural_gas_m3, energy.coal_t,
       (coalesce(energy.electricity_kwh, 0) * {k_e} + coalesce(energy.natural_gas_m3, 0) * {k_g}
        + coalesce(energy.coal_t, 0) * {k_c}) / 1000 AS energy_tce,
       load.peak_load_kw, load.mean_load_kw
FROM (SELECT DISTINCT equipment_id FROM readings) e
LEFT JOIN energy USING (equipment_id)
LEFT JOIN load USING (equipment_id)
ORDER BY e.equipment_id
"""


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def duckdb_query(files: list[Path], day: dt.date) -> str:
    from assets.telemetry.transform import ROLLOVER_SHARE
    from warehouse.domain import KGCE_PER_UNIT, TIMEZONE

    by_suffix = {s: [str(p) for p in files if p.suffix.lower() == s] for s in (".csv", ".jsonl", ".parquet")}
    cols = ", ".join(FIELDS)
    columns = "{" + ", ".join(f"{f}: 'VARCHAR'" for f in FIELDS) + "}"
    sources = []
    if by_suffix[".csv"]:
        # The contract's header, declared rather than sniffed: sniffing (or union_by_name) re-reads every
        # one of thousands of small files and costs more than the whole query.
        sources.append(
            f"SELECT {cols}, filename FROM read_csv({_sql_list(by_suffix['.csv'])}, header = true, "
            f"columns = {columns}, auto_detect = false, delim = ',', quote = '\"', filename = true)"
        )
    if by_suffix[".jsonl"]:
        sources.append(
            f"SELECT {cols}, filename FROM read_json({_sql_list(by_suffix['.jsonl'])}, "
            f"format = 'newline_delimited', columns = {columns}, filename = true)"
        )
    if by_suffix[".parquet"]:
        casts = ", ".join(f"CAST({f} AS VARCHAR) AS {f}" for f in FIELDS)
        sources.append(
            f"SELECT {casts}, filename FROM read_parquet({_sql_list(by_suffix['.parquet'])}, filename = true, "
            "union_by_name = true)"
        )
    return _DUCKDB_SQL.format(
        sources="\n    UNION ALL\n    ".join(sources),
        day=day.isoformat(),
        next_day=(day + dt.timedelta(days=1)).isoformat(),
        tz=TIMEZONE,
        rollover=repr(ROLLOVER_SHARE),
        k_e=repr(KGCE_PER_UNIT["electricity"]),
        k_g=repr(KGCE_PER_UNIT["natural_gas"]),
        k_c=repr(KGCE_PER_UNIT["coal"]),
    )


def _values_table(name: str, frame) -> str:
    def lit(v) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, str):
            return "'" + v.replace("'", "''") + "'"
        return f"CAST({v!r} AS DOUBLE)"

    rows = ", ".join("(" + ", ".join(lit(v) for v in row) + ")" for row in frame.iter_rows())
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    return f"CREATE TEMP TABLE {name} AS SELECT * FROM (VALUES {rows}) AS t({cols})"


def bare_duckdb(spec: dict, steps) -> dict:
    import duckdb
    import polars as pl

    from bench.data import landing_files
    from warehouse.domain import TIMEZONE

    landing, day = Path(spec["landing"]), dt.date.fromisoformat(spec["day"])
    with steps.step("total"):
        with steps.step("list_files"):
            files = landing_files(landing)
        con = duckdb.connect()
        con.execute(f"SET TimeZone = '{TIMEZONE}'")
        if spec.get("duckdb_memory_limit"):
            con.execute(f"SET memory_limit = '{spec['duckdb_memory_limit']}'")
        units, meters, _ = _reference_frames()
        # Reference tables as SQL literals (registering Arrow tables would import pandas: ~3 s).
        con.execute(_values_table("units", units))
        con.execute(_values_table("meters", meters))
        sql = duckdb_query(files, day)
        with steps.step("query"):
            out = pl.from_arrow(con.execute(sql).fetch_arrow_table())
        with steps.step("write"):
            out.write_parquet(spec["output"])  # type: ignore[union-attr]
        con.close()
    return {"equipment_rows": out.height, "files": len(files)}  # type: ignore[union-attr]
