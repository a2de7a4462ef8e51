"""The plan's KPIs (Shandong industrial big-data plan, see DOMAIN.md) as the lake can show them.

One row per KPI and as-of day: value, target where the plan gives one, progress. Each KPI reads only
what the lake holds up to the as-of day, so a re-run for an earlier day gives that day's figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from warehouse.domain import INDUSTRY_LIBRARIES
from warehouse.registry import (
    DATA_PRODUCT,
    ENERGY_DAILY,
    INDUSTRY_LIBRARY_TABLES,
    PLAN_PROGRESS,
    QUARANTINE_TRADE,
    SYNC_LEDGER,
    THEME_DCMM,
    THEME_TRADING_DAILY,
    TRADE,
)
from warehouse.storage import Lake

ACTIVE_DAYS = 30  # telemetry or trades within the last 30 local days count as active
TRADING_PILOTS = (
    "power_energy",
    "chemicals",
    "metallurgy",
)  # the plan's pilots: energy, chemicals, metallurgy


@dataclass(frozen=True)
class Kpi:
    kpi: str
    description: str
    unit: str
    target: float | None
    source: str


KPIS: tuple[Kpi, ...] = (
    Kpi(
        "enterprises_collecting",
        f"Enterprises whose equipment reported telemetry in the last {ACTIVE_DAYS} days",
        "enterprises",
        1000.0,
        "theme.energy_daily",
    ),
    Kpi(
        "equipment_connected",
        f"Key equipment reporting telemetry in the last {ACTIVE_DAYS} days",
        "equipment",
        None,
        "theme.energy_daily",
    ),
    Kpi(
        "dcmm_level_3_plus",
        "Enterprises whose latest DCMM assessment (by the as-of day) is level 3 or above",
        "enterprises",
        100.0,
        "theme.dcmm_assessment",
    ),
    Kpi(
        "trading_pilots_active",
        f"Trading pilots (energy, chemicals, metallurgy) with a clean trade in the last {ACTIVE_DAYS} days",
        "pilots",
        float(len(TRADING_PILOTS)),
        "theme.trading_daily",
    ),
    Kpi(
        "data_products_registered",
        "Data products holding a valid registration on the as-of day (registered, not revoked or expired)",
        "products",
        None,
        "silver.data_product",
    ),
    Kpi(
        "register_before_circulate_pct",
        "Share of landed trades that passed register-before-circulate (all time up to the as-of day)",
        "%",
        100.0,
        "silver.trade, quarantine.trade",
    ),
    Kpi(
        "industry_libraries_built",
        "Industry topic libraries holding data for the as-of day",
        "libraries",
        float(len(INDUSTRY_LIBRARIES)),
        "industry.*",
    ),
    Kpi(
        "days_synced_to_national_center",
        "Local days acknowledged by the national center up to the as-of day",
        "days",
        None,
        "catalog.sync_ledger",
    ),
)


DAYS_SYNCED = "days_synced_to_national_center"


def days_synced(as_of: dt.date, synced_periods: list[str]) -> float:
    """Local days up to the as-of day that the national center acknowledged."""
    return float(sum(p <= as_of.isoformat() for p in set(synced_periods)))


def _window(as_of: dt.date) -> tuple[dt.date, dt.date]:
    return as_of - dt.timedelta(days=ACTIVE_DAYS - 1), as_of


def plan_progress(
    as_of: dt.date,
    *,
    energy: pl.DataFrame,
    dcmm: pl.DataFrame,
    trading: pl.DataFrame,
    products: pl.DataFrame,
    trades: pl.DataFrame,
    trades_quarantined: pl.DataFrame,
    industry_days: dict[str, list[dt.date]],
    synced_periods: list[str],
) -> pl.DataFrame:
    """The KPI rows of one as-of day (theme.plan_progress)."""
    lo, hi = _window(as_of)
    recent = energy.filter(pl.col("day").is_between(lo, hi))
    latest = dcmm.filter(pl.col("assessed_on") <= as_of).sort("assessed_on").group_by("uscc").last()
    pilot_divisions = {d: lib for lib in TRADING_PILOTS for d in INDUSTRY_LIBRARIES[lib]}
    active_pilots = (
        trading.filter(pl.col("day").is_between(lo, hi) & (pl.col("trades") > 0))
        .select(pl.col("industry_code").replace_strict(pilot_divisions, default=None))
        .drop_nulls()
        .n_unique()
    )
    as_of_ts = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    valid = products.filter(
        pl.col("registration_no").is_not_null()
        & (pl.col("registered_at") < as_of_ts)
        & (pl.col("revoked_at").is_null() | (pl.col("revoked_at") >= as_of_ts))
        & (pl.col("expired_at").is_null() | (pl.col("expired_at") >= as_of_ts))
    )
    clean = trades.filter(pl.col("day") <= as_of).height
    landed = clean + trades_quarantined.filter(pl.col("day").is_null() | (pl.col("day") <= as_of)).height
    values = {
        "enterprises_collecting": float(recent["uscc"].n_unique()),
        "equipment_connected": float(recent["equipment_id"].n_unique()),
        "dcmm_level_3_plus": float((latest["level"] >= 3).sum()),
        "trading_pilots_active": float(active_pilots),
        "data_products_registered": float(valid.height),
        "register_before_circulate_pct": round(100.0 * clean / landed, 2) if landed else None,
        "industry_libraries_built": float(sum(as_of in days for days in industry_days.values())),
        "days_synced_to_national_center": days_synced(as_of, synced_periods),
    }
    rows = [
        {
            "as_of_day": as_of,
            "kpi": k.kpi,
            "description": k.description,
            "value": values[k.kpi],
            "target": k.target,
            "unit": k.unit,
            "progress_pct": (
                round(100.0 * values[k.kpi] / k.target, 2) if k.target and values[k.kpi] is not None else None
            ),
            "source": k.source,
        }
        for k in KPIS
    ]
    return pl.DataFrame(rows, schema=PLAN_PROGRESS.schema)


def plan_progress_of_lake(store: Lake) -> pl.DataFrame | None:
    """The KPI rows as of the latest day with energy built (None before any day is built): the plan is
    reported for the newest complete picture, not the wall clock's day."""
    energy = store.read(ENERGY_DAILY, columns=["day", "uscc", "equipment_id"])
    if energy.is_empty():
        return None
    ledger = store.read(SYNC_LEDGER, columns=["period", "status"])
    return plan_progress(
        energy["day"].max(),
        energy=energy,
        dcmm=store.read(THEME_DCMM, columns=["uscc", "assessed_on", "level"]),
        trading=store.read(THEME_TRADING_DAILY, columns=["day", "industry_code", "trades"]),
        products=store.read(DATA_PRODUCT),
        trades=store.read(TRADE, columns=["day"]),
        trades_quarantined=store.read(QUARANTINE_TRADE, columns=["day"]),
        industry_days={
            lib: [dt.date.fromisoformat(p) for p in store.partitions(spec)]
            for lib, spec in INDUSTRY_LIBRARY_TABLES.items()
        },
        synced_periods=ledger.filter(pl.col("status") == "acknowledged")["period"].to_list(),
    )
