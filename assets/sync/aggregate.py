"""The upload before the release policy: measures per city x industry x local day, with the margins.

One DuckDB query with GROUPING SETS gives the cells (city_code x industry_code), the per-city totals,
the per-industry totals and the province total of a day, so the totals are sent too and the suppression
has to protect the cells against them. Per disclosure group, the respondents (distinct enterprises:
`contributors` for energy, `sellers` for trading) and the top respondents' share drive the threshold and
dominance rules and never leave the province as such.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from assets.sync.measures import DOMINANCE_N, ENERGY, MEASURES, TRADING, Measure, released
from warehouse.domain import EQUIPMENT_TYPES, LEGACY_CITY_CODES, SAMPLING_INTERVAL_MINUTES
from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY, THEME_ENTERPRISE, TRADE

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


def _levels(city: str, industry: str) -> str:
    return f"""
        CASE WHEN grouping({city}) = 1 AND grouping({industry}) = 1 THEN 'province_total'
             WHEN grouping({industry}) = 1 THEN 'city_total'
             WHEN grouping({city}) = 1 THEN 'industry_total'
             ELSE 'cell' END AS level,
        CASE WHEN grouping({city}) = 1 THEN '{ALL}' ELSE coalesce({city}, 'UNKNOWN') END AS city_code,
        CASE WHEN grouping({industry}) = 1 THEN '{ALL}' ELSE coalesce({industry}, 'UNKNOWN') END AS industry_code"""


def _grouping_sets(city: str, industry: str) -> str:
    return f"GROUP BY GROUPING SETS (({city}, {industry}), ({city}), ({industry}), ())"


def _top_share(column: str) -> str:
    """Share of the DOMINANCE_N largest respondents in the total (NULL for an empty or zero total)."""
    return (
        f"list_sum(list_slice(list_sort(list(abs({column})), 'DESC'), 1, {DOMINANCE_N}))"
        f" / nullif(sum(abs({column})), 0)"
    )


def _measure_cols(measures: tuple[Measure, ...]) -> str:
    return ",\n        ".join(
        f"CAST({m.sql} AS BIGINT) AS {m.name}"
        if m.integer
        else f"round(CAST({m.sql} AS DOUBLE), 6) AS {m.name}"
        for m in measures
    )


NO_TRADES = (
    "SELECT NULL::VARCHAR AS trade_id, NULL::VARCHAR AS seller_uscc, NULL::DOUBLE AS amount_cny, "
    "NULL::DATE AS day WHERE false"
)
NO_PROFILES = (
    "SELECT NULL::VARCHAR AS uscc, NULL::VARCHAR AS city_code, NULL::VARCHAR AS industry_code WHERE false"
)


def trade_base_sql(trades: str, profiles: str) -> str:
    """One row per clean trade of the day with its seller's current city and industry."""
    return f"""
    SELECT t.trade_id, t.seller_uscc, t.amount_cny,
           {_legacy_city("p.city_code")} AS city, p.industry_code AS industry
    FROM {trades} AS t
    LEFT JOIN {profiles} AS p ON p.uscc = t.seller_uscc
    WHERE t.day = $day
    """


def aggregate_sql(
    measures: tuple[Measure, ...],
    energy: str,
    equipment: str,
    trades: str = TRADE.name,
    profiles: str = THEME_ENTERPRISE.name,
) -> str:
    """Cells and margins per disclosure group, joined on (level, city, industry).

    Besides the measures, each group yields its respondents (distinct enterprises) and the share of its
    DOMINANCE_N largest respondents; neither leaves the province. Energy dominance is the worst over the
    carriers and tce, so no single carrier betrays a dominant consumer.
    """
    energy_measures = tuple(m for m in measures if m.group is ENERGY)
    trading_measures = tuple(m for m in measures if m.group is TRADING)
    carriers = ("electricity_kwh", "natural_gas_m3", "coal_t", "energy_tce")
    energy_shares = ", ".join(_top_share(c) for c in carriers)
    ctes = [
        f"base AS ({base_sql(energy, equipment)})",
        f"""energy AS (
        SELECT {_levels("city", "industry")},
            count(DISTINCT uscc) AS contributors{"," if energy_measures else ""}
            {_measure_cols(energy_measures)}
        FROM base {_grouping_sets("city", "industry")})""",
        f"""energy_respondents AS (
        SELECT uscc, city, industry, {", ".join(f"sum({c}) AS {c}" for c in carriers)}
        FROM base GROUP BY uscc, city, industry)""",
        f"""energy_top AS (
        SELECT {_levels("city", "industry")}, greatest({energy_shares}) AS energy_top_share
        FROM energy_respondents {_grouping_sets("city", "industry")})""",
    ]
    select = ["coalesce(energy.contributors, 0) AS contributors", "energy_top.energy_top_share"]
    joins = "energy FULL JOIN energy_top USING (level, city_code, industry_code)"
    if trading_measures:
        ctes += [
            f"trade_base AS ({trade_base_sql(trades, profiles)})",
            f"""trading AS (
            SELECT {_levels("city", "industry")}, count(DISTINCT seller_uscc) AS sellers,
                {_measure_cols(trading_measures)}
            FROM trade_base {_grouping_sets("city", "industry")})""",
            """trading_respondents AS (
            SELECT seller_uscc, city, industry, sum(amount_cny) AS value
            FROM trade_base GROUP BY seller_uscc, city, industry)""",
            f"""trading_top AS (
            SELECT {_levels("city", "industry")}, {_top_share("value")} AS trading_top_share
            FROM trading_respondents {_grouping_sets("city", "industry")})""",
        ]
        select += ["coalesce(trading.sellers, 0) AS sellers", "trading_top.trading_top_share"]
        joins += (
            " FULL JOIN trading USING (level, city_code, industry_code)"
            " FULL JOIN trading_top USING (level, city_code, industry_code)"
        )
    # a cell seen by one group only: the other group's counts and sums there are 0, not unknown
    values = [
        f"coalesce({m.name}, 0) AS {m.name}" if m.integer or m.sql.startswith("coalesce(sum") else m.name
        for m in measures
    ]
    with_ = ",\n    ".join(ctes)
    return f"""
    WITH {with_}
    SELECT level, city_code, industry_code, {", ".join(select)}, {", ".join(values)}
    FROM {joins}
    """


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    schema, table = name.split(".", 1)
    return bool(
        con.execute(
            "SELECT count(*) FROM (SELECT schema_name, view_name AS n FROM duckdb_views() "
            "UNION ALL SELECT schema_name, table_name FROM duckdb_tables()) WHERE schema_name = ? AND n = ?",
            [schema, table],
        ).fetchone()[0]
    )


def aggregate_day(
    con: duckdb.DuckDBPyConnection, day: dt.date, *, measures: tuple[Measure, ...] = MEASURES
) -> pl.DataFrame:
    """Cells and margins of one local day; grade-3 measures are left out before anything is computed.

    A lake without trading data (no silver.trade yet) has no trades that day: the trading group is 0.
    """
    sendable = released(measures)
    trades = TRADE.name if _exists(con, TRADE.name) else f"({NO_TRADES})"
    profiles = THEME_ENTERPRISE.name if _exists(con, THEME_ENTERPRISE.name) else f"({NO_PROFILES})"
    sql = aggregate_sql(sendable, ENERGY_DAILY.name, EQUIPMENT_DAILY.name, trades, profiles)
    df = con.execute(sql, {"day": day}).pl()
    order = pl.col("level").replace_strict({lv: i for i, lv in enumerate(LEVELS)}, return_dtype=pl.Int8)
    internal = [
        c for c in ("contributors", "energy_top_share", "sellers", "trading_top_share") if c in df.columns
    ]
    return (
        df.with_columns(pl.lit(day.isoformat()).alias("day"))
        .sort(order, "city_code", "industry_code")
        .select("day", "level", "city_code", "industry_code", *internal, *[m.name for m in sendable])
    )
