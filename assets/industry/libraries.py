"""Industry topic libraries (行业专题库): one builder for every library of warehouse.domain.INDUSTRY_LIBRARIES.

A library row is a GB/T 4754 division x city x local day. Every figure is kept as additive components
(tce, output, run/planned/ideal minutes, units, observed/fault hours, readings) and every ratio is
recomputed from summed components, so the monthly roll-up and any analyst's roll-up over cities or
divisions stay exact: equipment availability is time-weighted, completeness weighted by expected
readings, OEE as in assets.production.oee.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.production.oee import COMPONENTS, MIXED, unit_of, with_oee
from quality.checks import Reconciliation
from warehouse.domain import INDUSTRY_LIBRARIES, SAMPLING_INTERVAL_MINUTES, STATE_FAULT
from warehouse.registry import (
    ENERGY_DAILY,
    INDUSTRY_LIBRARY_TABLES,
    INDUSTRY_MONTHLY,
    PRODUCTION_ENTERPRISE_DAILY,
    SILVER_TELEMETRY,
)
from warehouse.storage import Lake

TOP_CONSUMERS = 3
_CELL = ("industry_code", "city_code")
_ADDITIVE = (
    "equipment_reporting",
    "energy_tce",
    "output_energy_tce",
    "observed_hours",
    "fault_hours",
    *COMPONENTS,
    "readings_expected",
    "readings_received",
)


def library_of(industry_code: str | None) -> str | None:
    """The topic library a GB/T 4754 division belongs to (None when it belongs to none)."""
    return next((lib for lib, codes in INDUSTRY_LIBRARIES.items() if industry_code in codes), None)


def state_hours(state_readings: pl.DataFrame) -> pl.DataFrame:
    """Per enterprise: hours observed by running-state readings and hours in fault (15 min each)."""
    hours = SAMPLING_INTERVAL_MINUTES / 60
    return state_readings.group_by("uscc").agg(
        observed_hours=pl.len() * hours, fault_hours=(pl.col("value") == STATE_FAULT).sum() * hours
    )


def enterprise_day(energy: pl.DataFrame, hours: pl.DataFrame, production: pl.DataFrame) -> pl.DataFrame:
    """One row per enterprise of the day with every additive component, from the theme tables.

    `energy` is theme.energy_daily, `hours` state_hours(...) and `production`
    theme.production_enterprise_daily of the same day.
    """
    e = energy.group_by("uscc").agg(
        pl.col("industry_code").first(),
        pl.col("city_code").first(),
        equipment_reporting=pl.len(),
        energy_tce=pl.col("energy_tce").sum(),
        readings_expected=pl.col("readings_expected").sum(),
        readings_received=pl.col("readings_received").sum(),
    )
    p = production.select(
        "uscc",
        pl.col("industry_code").alias("p_industry"),
        pl.col("city_code").alias("p_city"),
        "unit",
        *COMPONENTS,
    )
    base = e.join(p, on="uscc", how="full", coalesce=True).with_columns(
        industry_code=pl.coalesce("industry_code", "p_industry"),
        city_code=pl.coalesce("city_code", "p_city"),
    )
    base = base.join(hours, on="uscc", how="left")
    return base.with_columns(
        output_energy_tce=pl.when(pl.col("total_units") > 0).then(pl.col("energy_tce")),
    ).drop("p_industry", "p_city")


def _ratios(df: pl.DataFrame) -> pl.DataFrame:
    """Every ratio of a library row from its summed components."""
    not_mixed = pl.col("unit").is_not_null() & (pl.col("unit") != MIXED)
    return with_oee(df).with_columns(
        output_units=pl.when(not_mixed).then(pl.col("output_units")),
        energy_intensity=pl.when(not_mixed & (pl.col("output_units") > 0)).then(
            pl.col("output_energy_tce") / pl.col("output_units")
        ),
        equipment_availability_pct=pl.when(pl.col("observed_hours") > 0).then(
            100.0 * (pl.col("observed_hours") - pl.col("fault_hours")) / pl.col("observed_hours")
        ),
        completeness_pct=pl.when(pl.col("readings_expected") > 0).then(
            pl.min_horizontal(
                pl.lit(100.0), 100.0 * pl.col("readings_received") / pl.col("readings_expected")
            )
        ),
    )


def _top_consumers() -> pl.Expr:
    """Up to 3 USCCs with the most tce (the frame is sorted by tce, largest first)."""
    return pl.col("uscc").filter(pl.col("energy_tce") > 0).head(TOP_CONSUMERS).alias("top_consumers")


def library_daily(base: pl.DataFrame, library: str, *, day: dt.date) -> pl.DataFrame:
    """industry.<library> for one day from enterprise_day(...)."""
    spec = INDUSTRY_LIBRARY_TABLES[library]
    rows = (
        base.filter(pl.col("industry_code").is_in(INDUSTRY_LIBRARIES[library]))
        .sort(["energy_tce", "uscc"], descending=[True, False], nulls_last=True)
        .group_by(_CELL)
        .agg(
            *[pl.col(c).sum() for c in _ADDITIVE],
            pl.col("uscc").n_unique().alias("enterprises_reporting"),
            unit_of().alias("unit"),
            pl.col("total_units").sum().alias("output_units"),
            _top_consumers(),
        )
        .with_columns(day=pl.lit(day))
    )
    return spec.conform(_ratios(rows)).sort(_CELL)


def _change(col: str, months: int) -> pl.Expr:
    prev = pl.col(f"{col}_{months}m")
    return pl.when(prev > 0).then(100.0 * (pl.col(col) / prev - 1.0))


def library_monthly(daily: dict[str, pl.DataFrame], enterprise_days: pl.DataFrame) -> pl.DataFrame:
    """industry.library_monthly: the daily library tables summed per month, ratios recomputed.

    `enterprise_days` (day, uscc, industry_code, city_code, energy_tce over the months) gives the
    distinct enterprises and top consumers of a month, which no sum of daily rows can.
    Month-on-month and year-on-year changes are null where the earlier month has no row.
    """
    frames = [df.with_columns(library=pl.lit(lib)) for lib, df in daily.items() if df.height]
    if not frames:
        return pl.DataFrame(schema=INDUSTRY_MONTHLY.schema)
    month = pl.col("day").dt.truncate("1mo").alias("month")
    keys = ["library", "month", *_CELL]
    sums = (
        pl.concat(frames, how="vertical")
        .with_columns(month)
        .group_by(keys)
        .agg(
            *[pl.col(c).sum() for c in _ADDITIVE],
            pl.col("day").n_unique().alias("days_reported"),
            unit_of().alias("unit"),
            pl.col("output_units").sum(),
        )
    )
    libs = pl.DataFrame(
        {"industry_code": [c for codes in INDUSTRY_LIBRARIES.values() for c in codes]},
    ).with_columns(library=pl.col("industry_code").map_elements(library_of, return_dtype=pl.String))
    people = (
        enterprise_days.with_columns(month)
        .group_by("month", *_CELL, "uscc")
        .agg(energy_tce=pl.col("energy_tce").sum())
        .join(libs, on="industry_code")
        .sort(["energy_tce", "uscc"], descending=[True, False], nulls_last=True)
        .group_by(keys)
        .agg(enterprises_reporting=pl.col("uscc").n_unique(), top_consumers=_top_consumers())
    )
    rows = _ratios(sums.join(people, on=keys, how="left"))
    compared = ("energy_tce", "energy_intensity", "oee")
    for months in (1, 12):
        earlier = rows.select(
            "library",
            *_CELL,
            pl.col("month").dt.offset_by(f"{months}mo").alias("month"),
            *[pl.col(c).alias(f"{c}_{months}m") for c in compared],
        )
        rows = rows.join(earlier, on=keys, how="left")
    rows = rows.with_columns(
        **{f"{c}_{tag}_pct": _change(c, m) for c in compared for tag, m in (("mom", 1), ("yoy", 12))}
    )
    return (
        rows.with_columns(enterprises_reporting=pl.col("enterprises_reporting").fill_null(0))
        .select(list(INDUSTRY_MONTHLY.schema))
        .cast(dict(INDUSTRY_MONTHLY.schema))  # type: ignore[arg-type]
        .sort(keys)
    )


def read_day(store: Lake, day: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(theme.energy_daily, enterprise_day) of one local day. Equipment availability is time-weighted:
    hours come from the running-state readings, which theme.equipment_daily only keeps as a ratio."""
    energy = store.read(ENERGY_DAILY, partition=day)
    states = store.read(
        SILVER_TELEMETRY, partition=day, where=pl.col("metric") == "running_state", columns=["uscc", "value"]
    )
    production = store.read(PRODUCTION_ENTERPRISE_DAILY, partition=day)
    return energy, enterprise_day(energy, state_hours(states), production)


def library_reconciliation(energy: pl.DataFrame, library: str, cells: pl.DataFrame) -> Reconciliation:
    """Every equipment-day of the library's divisions in theme.energy_daily is counted in one cell."""
    landed = energy.filter(pl.col("industry_code").is_in(INDUSTRY_LIBRARIES[library])).height
    return Reconciliation(landed, int(cells["equipment_reporting"].sum() or 0), 0, 0)


def read_enterprise_days(store: Lake) -> pl.DataFrame:
    """Enterprise-days reporting energy or production (tce only from energy: nothing counted twice)."""
    cols = ["day", "uscc", "industry_code", "city_code"]
    return pl.concat(
        [
            store.read(ENERGY_DAILY, columns=[*cols, "energy_tce"]),
            store.read(PRODUCTION_ENTERPRISE_DAILY, columns=cols).with_columns(
                energy_tce=pl.lit(None, pl.Float64)
            ),
        ]
    )
