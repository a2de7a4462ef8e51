"""The upload before the release policy: measures per city x industry x local day, with the margins.

One DuckDB query with GROUPING SETS gives the cells (city_code x industry_code), the per-city totals,
the per-industry totals and the province total of a day, so the totals are sent too and the suppression
has to protect the cells against them. `contributors` (distinct enterprises) drives the threshold and
never leaves the province as such.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from assets.sync.measures import MEASURES, Measure, released
from warehouse.domain import EQUIPMENT_TYPES, LEGACY_CITY_CODES, SAMPLING_INTERVAL_MINUTES
from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY

ALL = "ALL"  # the code of a rolled-up dimension in a total row
LEVELS = ("cell", "city_total", "industry_total", "province_total")
DAY_HOURS = 24.0


def _legacy_city(column: str) -> str:
    """GB/T 2260: 3712 Laiwu merged into Jinan in 2019, old records are mapped, not dropped."""
    whens = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in LEGACY_CITY_CODES.items())
    return f"CASE {column} {whens} ELSE {column} END" if whens else column


def _metrics_per_type() -> str:
    return ", ".join(f"('{t}', {len(metrics)})" for t, metrics in EQUIPMENT_TYPES.items())


def base_sql(energy: str, equipment: str) -> str:
    """One row per equipment and day with what the measures read.

    theme.equipment_daily keeps availability and fault hours but not the hours observed, which weight
    availability by time. They are recovered exactly where the equipment had a fault (fault / (1 -
    availability)); otherwise from its readings that day over the metrics its type reports (each
    reading a 15-minute interval), all from equipment_daily, so availability keeps that table's grade.
    """
    return f"""
    SELECT
        e.uscc,
        {_legacy_city("e.city_code")} AS city,
        e.industry_code AS industry,
        e.electricity_kwh, e.natural_gas_m3, e.coal_t, e.energy_tce,
        e.readings_received, e.readings_expected,
        q.fault_hours,
        CASE
            WHEN q.availability_pct IS NULL OR q.fault_hours IS NULL THEN NULL
            WHEN q.availability_pct < 100 THEN q.fault_hours * 100 / (100 - q.availability_pct)
            ELSE least({DAY_HOURS}, (q.readings_good + q.readings_uncertain + q.readings_bad)
                       / coalesce(m.metrics, 1) * {SAMPLING_INTERVAL_MINUTES / 60})
        END AS observed_hours
    FROM {energy} AS e
    LEFT JOIN {equipment} AS q ON q.day = e.day AND q.equipment_id = e.equipment_id
    LEFT JOIN (VALUES {_metrics_per_type()}) AS m(equipment_type, metrics) ON m.equipment_type = q.equipment_type
    WHERE e.day = $day
    """


def aggregate_sql(measures: tuple[Measure, ...], energy: str, equipment: str) -> str:
    cols = ",\n        ".join(
        f"CAST({m.sql} AS BIGINT) AS {m.name}"
        if m.integer
        else f"round(CAST({m.sql} AS DOUBLE), 6) AS {m.name}"
        for m in measures
    )
    return f"""
    WITH base AS ({base_sql(energy, equipment)})
    SELECT
        CASE WHEN grouping(city) = 1 AND grouping(industry) = 1 THEN 'province_total'
             WHEN grouping(industry) = 1 THEN 'city_total'
             WHEN grouping(city) = 1 THEN 'industry_total'
             ELSE 'cell' END AS level,
        CASE WHEN grouping(city) = 1 THEN '{ALL}' ELSE coalesce(city, 'UNKNOWN') END AS city_code,
        CASE WHEN grouping(industry) = 1 THEN '{ALL}' ELSE coalesce(industry, 'UNKNOWN') END AS industry_code,
        count(DISTINCT uscc) AS contributors,
        {cols}
    FROM base
    GROUP BY GROUPING SETS ((city, industry), (city), (industry), ())
    """


def aggregate_day(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    *,
    measures: tuple[Measure, ...] = MEASURES,
    energy: str = ENERGY_DAILY.name,
    equipment: str = EQUIPMENT_DAILY.name,
) -> pl.DataFrame:
    """Cells and margins of one local day; grade-3 measures are left out before anything is computed."""
    sql = aggregate_sql(released(measures), energy, equipment)
    df = con.execute(sql, {"day": day}).pl()
    order = pl.col("level").replace_strict({lv: i for i, lv in enumerate(LEVELS)}, return_dtype=pl.Int8)
    return (
        df.with_columns(pl.lit(day.isoformat()).alias("day"))
        .sort(order, "city_code", "industry_code")
        .select(
            "day",
            "level",
            "city_code",
            "industry_code",
            "contributors",
            *[m.name for m in released(measures)],
        )
    )
