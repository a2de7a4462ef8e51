"""OEE (overall equipment effectiveness) and energy intensity: plain functions over polars frames.

OEE = availability x performance x quality, with
availability = run / planned time, performance = ideal cycle time x total units / run time,
quality = good / total units.
A roll-up over lines, enterprises, divisions or months sums the components first
(availability = Σrun / Σplanned, performance = Σ(ideal cycle x total) / Σrun, quality = Σgood / Σtotal):
the mean of per-line percentages would weigh a one-shift line like a three-shift one.
Energy intensity = tce (theme.energy_daily) / units of output, only where the units are comparable.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.enterprise.golden import current
from warehouse.registry import PRODUCTION_DAILY, PRODUCTION_ENTERPRISE_DAILY

COMPONENTS = ("planned_minutes", "run_minutes", "ideal_run_minutes", "total_units", "good_units")
MIXED = "mixed"


def share(numerator: str, denominator: str) -> pl.Expr:
    """numerator / denominator, null when the denominator is zero or missing."""
    return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator))


def with_oee(df: pl.DataFrame) -> pl.DataFrame:
    """Availability, performance, quality and OEE from (summed) components."""
    return df.with_columns(
        availability=share("run_minutes", "planned_minutes"),
        performance=share("ideal_run_minutes", "run_minutes"),
        quality=share("good_units", "total_units"),
    ).with_columns(oee=pl.col("availability") * pl.col("performance") * pl.col("quality"))


def sum_components() -> list[pl.Expr]:
    return [pl.col(c).sum() for c in COMPONENTS]


def partition_oee(df: pl.DataFrame) -> dict[str, float]:
    """Availability, performance, quality and OEE of a whole partition from its summed components
    (for the UI's plots; 0.0 where a denominator is zero)."""
    row = with_oee(df.select(sum_components())).row(0, named=True)
    return {k: float(row[k] or 0.0) for k in ("availability", "performance", "quality", "oee")}


def unit_of(col: str = "unit") -> pl.Expr:
    """The one unit of output in a group, 'mixed' when there are several, null when none."""
    units = pl.col(col).drop_nulls()
    return pl.when(units.n_unique() > 1).then(pl.lit(MIXED)).otherwise(units.first())


def production_daily(silver: pl.DataFrame, enterprises: pl.DataFrame) -> pl.DataFrame:
    """theme.production_daily: OEE per line and day from clean production records."""
    df = silver.with_columns(ideal_run_minutes=pl.col("ideal_cycle_s") * pl.col("total_units") / 60.0).join(
        current(enterprises).select("uscc", "city_code", "industry_code"), on="uscc", how="left"
    )
    return (
        with_oee(df)
        .select(list(PRODUCTION_DAILY.schema))
        .cast(dict(PRODUCTION_DAILY.schema))  # type: ignore[arg-type]
        .sort("line_id")
    )


def enterprise_daily(lines: pl.DataFrame, energy: pl.DataFrame, *, day: dt.date) -> pl.DataFrame:
    """theme.production_enterprise_daily: lines rolled up per enterprise by summing components,
    energy of the day from theme.energy_daily, and energy intensity = tce / total units."""
    tce = energy.group_by("uscc").agg(energy_tce=pl.col("energy_tce").sum())
    rolled = (
        lines.group_by("uscc")
        .agg(
            pl.col("city_code").first(),
            pl.col("industry_code").first(),
            pl.len().alias("lines"),
            unit_of().alias("unit"),
            *sum_components(),
        )
        .join(tce, on="uscc", how="left")
        .with_columns(day=pl.lit(day))
    )
    comparable = (pl.col("unit") != MIXED) & (pl.col("total_units") > 0)
    rolled = rolled.with_columns(
        energy_intensity=pl.when(comparable).then(pl.col("energy_tce") / pl.col("total_units"))
    )
    return (
        with_oee(rolled)
        .select(list(PRODUCTION_ENTERPRISE_DAILY.schema))
        .cast(dict(PRODUCTION_ENTERPRISE_DAILY.schema))  # type: ignore[arg-type]
        .sort("uscc")
    )
