"""Enterprise, trading and DCMM theme libraries: plain functions over silver frames.

Theme tables never carry personal data in clear: the profile holds the masked forms only
(warehouse.privacy), and the DCMM and trading themes none at all.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.enterprise.golden import current
from warehouse.privacy import mask_name, mask_phone
from warehouse.registry import (
    DCMM_ASSESSMENT,
    ENERGY_DAILY,
    ENTERPRISE,
    ENTERPRISE_GAPS,
    EQUIPMENT,
    SILVER_TELEMETRY,
    THEME_DCMM,
    THEME_ENTERPRISE,
    THEME_TRADING_DAILY,
    TRADE,
)
from warehouse.storage import Lake

ENERGY_WINDOW_DAYS = 30
UNKNOWN = "unknown"


def latest_assessments(assessments: pl.DataFrame) -> pl.DataFrame:
    return assessments.sort("uscc", "assessed_on").group_by("uscc", maintain_order=True).last()


def enterprise_profile(
    enterprises: pl.DataFrame,
    equipment: pl.DataFrame,
    energy: pl.DataFrame,
    trades: pl.DataFrame,
    assessments: pl.DataFrame,
) -> pl.DataFrame:
    """theme.enterprise: one row per current golden-record enterprise.

    Energy covers the 30 local days up to the latest day with energy data (not the wall clock), so the
    profile is reproducible."""
    golden = current(enterprises)
    as_of = energy["day"].max() if energy.height else None
    window = (
        energy.filter(pl.col("day") > pl.lit(as_of) - dt.timedelta(days=ENERGY_WINDOW_DAYS))
        if as_of
        else energy
    )
    tce = window.group_by("uscc").agg(energy_tce_30d=pl.col("energy_tce").sum())
    eq = equipment.group_by("uscc").agg(equipment_connected=pl.len())
    sold = trades.group_by(pl.col("seller_uscc").alias("uscc")).agg(
        trades_sold=pl.len(), trade_value_sold_cny=pl.col("amount_cny").sum()
    )
    bought = trades.group_by(pl.col("buyer_uscc").alias("uscc")).agg(trades_bought=pl.len())
    dcmm = latest_assessments(assessments).select(
        "uscc", pl.col("level").alias("dcmm_level"), pl.col("assessed_on").alias("dcmm_assessed_on")
    )
    out = (
        golden.with_columns(
            legal_representative_masked=mask_name("legal_representative"), phone_masked=mask_phone("phone")
        )
        .join(eq, on="uscc", how="left")
        .join(tce, on="uscc", how="left")
        .join(sold, on="uscc", how="left")
        .join(bought, on="uscc", how="left")
        .join(dcmm, on="uscc", how="left")
        .with_columns(
            equipment_connected=pl.col("equipment_connected").fill_null(0),
            energy_tce_30d=pl.col("energy_tce_30d").fill_null(0.0),
            trades_sold=pl.col("trades_sold").fill_null(0),
            trades_bought=pl.col("trades_bought").fill_null(0),
            trade_value_sold_cny=pl.col("trade_value_sold_cny").fill_null(0.0),
            as_of_day=pl.lit(as_of, pl.Date),
        )
    )
    return THEME_ENTERPRISE.conform(out).sort("uscc")


def trading_daily(clean: pl.DataFrame, quarantined: pl.DataFrame, enterprises: pl.DataFrame) -> pl.DataFrame:
    """theme.trading_daily: seller industry x city x local day; violations from the quarantine."""
    where = current(enterprises).select(pl.col("uscc").alias("seller_uscc"), "industry_code", "city_code")
    fill = [pl.col("industry_code").fill_null(UNKNOWN), pl.col("city_code").fill_null(UNKNOWN)]
    keys = ["day", "industry_code", "city_code"]
    good = (
        clean.join(where, on="seller_uscc", how="left")
        .with_columns(fill)
        .group_by(keys)
        .agg(
            trades=pl.len(),
            value_cny=pl.col("amount_cny").sum(),
            distinct_buyers=pl.col("buyer_uscc").n_unique(),
            distinct_sellers=pl.col("seller_uscc").n_unique(),
        )
    )
    bad = (
        quarantined.filter(pl.col("day").is_not_null())
        .join(where, on="seller_uscc", how="left")
        .with_columns(fill)
        .group_by(keys)
        .agg(violations=pl.len())
    )
    out = good.join(bad, on=keys, how="full", coalesce=True).with_columns(
        trades=pl.col("trades").fill_null(0),
        value_cny=pl.col("value_cny").fill_null(0.0),
        distinct_buyers=pl.col("distinct_buyers").fill_null(0),
        distinct_sellers=pl.col("distinct_sellers").fill_null(0),
        violations=pl.col("violations").fill_null(0),
    )
    return THEME_TRADING_DAILY.conform(out).sort(keys)


def dcmm_theme(assessments: pl.DataFrame, enterprises: pl.DataFrame) -> pl.DataFrame:
    """theme.dcmm_assessment: every assessment with level >= 3 (the plan's target) and the latest marked."""
    golden = current(enterprises).select("uscc", "name", "city_code", "industry_code")
    latest = latest_assessments(assessments).select("uscc", pl.col("assessed_on").alias("latest_on"))
    out = (
        assessments.join(golden, on="uscc", how="left")
        .join(latest, on="uscc", how="left")
        .with_columns(level_ge_3=pl.col("level") >= 3, is_latest=pl.col("assessed_on") == pl.col("latest_on"))
    )
    return THEME_DCMM.conform(out).sort("uscc", "assessed_on")


def enterprise_gaps(
    telemetry_usccs: pl.DataFrame, trades: pl.DataFrame, enterprises: pl.DataFrame
) -> pl.DataFrame:
    """catalog.enterprise_gaps: telemetry (uscc, day, records) and trade parties not in the golden record."""
    known = current(enterprises)["uscc"].unique().to_list()
    tel = (
        telemetry_usccs.filter(~pl.col("uscc").is_in(known))
        .group_by("uscc")
        .agg(records=pl.col("records").sum(), first_day=pl.col("day").min(), last_day=pl.col("day").max())
        .with_columns(source=pl.lit("telemetry"))
    )
    parties = pl.concat(
        [
            trades.select(pl.col("seller_uscc").alias("uscc"), "day"),
            trades.select(pl.col("buyer_uscc").alias("uscc"), "day"),
        ]
    )
    trd = (
        parties.filter(~pl.col("uscc").is_in(known))
        .group_by("uscc")
        .agg(records=pl.len(), first_day=pl.col("day").min(), last_day=pl.col("day").max())
        .with_columns(source=pl.lit("trading"))
    )
    out = pl.concat(
        [
            ENTERPRISE_GAPS.conform(tel),
            ENTERPRISE_GAPS.conform(trd),
        ]
    )
    return out.sort("source", "uscc")


def profiles_of_lake(store: Lake) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(theme.enterprise_profile, theme.enterprise_gaps) from the lake's golden record, equipment, energy,
    trades, DCMM assessments and the enterprise-days seen in telemetry."""
    enterprises, trades = store.read(ENTERPRISE), store.read(TRADE)
    energy = store.read(ENERGY_DAILY, columns=["day", "uscc", "energy_tce"])
    profiles = enterprise_profile(
        enterprises, store.read(EQUIPMENT), energy, trades, store.read(DCMM_ASSESSMENT)
    )
    telemetry = (
        store.read(SILVER_TELEMETRY, columns=["uscc", "day"]).group_by("uscc", "day").agg(records=pl.len())
    )
    return profiles, enterprise_gaps(telemetry, trades, enterprises)
