"""Production assets: landing/production -> silver + quarantine -> OEE per line and per enterprise (per local day)."""

import datetime as dt

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset, multi_asset

from assets.day_range import DayRange, daily_backfill
from assets.gate import Gated, gate_partition, gate_partitions
from assets.metadata import asset_spec, materialized, preview, quarantine_metadata, spec_kwargs
from assets.partitions import daily_local
from assets.production.oee import enterprise_daily, partition_oee, production_daily
from assets.production.records import ProductionResult, clean_production, read_production
from assets.resources import LakeResource
from quality.checks import Reconciliation, checks_for
from warehouse.registry import (
    ENERGY_DAILY,
    ENTERPRISE,
    EQUIPMENT,
    PRODUCTION_DAILY,
    PRODUCTION_ENTERPRISE_DAILY,
    QUARANTINE_PRODUCTION,
    SILVER_PRODUCTION,
)
from warehouse.settings import Settings
from warehouse.storage import Lake


@multi_asset(
    specs=[
        asset_spec(SILVER_PRODUCTION, deps=[EQUIPMENT.asset_key], partitions_def=daily_local),
        asset_spec(QUARANTINE_PRODUCTION, partitions_def=daily_local),
    ],
    check_specs=checks_for(SILVER_PRODUCTION, reconciles=True),
    name="build_silver_production",
    backfill_policy=daily_backfill,
)
def build_silver_production(context: AssetExecutionContext, lake: LakeResource):
    """Each local day of production records; unusable ones to quarantine with the rule that failed."""
    span, store = DayRange.of(context), lake.lake
    records, equipment = read_production(lake.settings.landing), store.read(EQUIPMENT)
    for day in span.days:
        result = clean_production(records, equipment, day=day, run_id=context.run_id)
        span.add(day, silver_production_day(store, lake.settings, day, result, context.run_id))
    yield from span.results(
        context, [AssetKey(SILVER_PRODUCTION.asset_key), AssetKey(QUARANTINE_PRODUCTION.asset_key)]
    )


def silver_production_day(
    store: Lake, settings: Settings, day: dt.date, result: ProductionResult, run_id: str
) -> list[MaterializeResult]:
    """Replace the day's silver and quarantine partitions and gate silver: a run of that day's results."""
    version = store.replace_partition(SILVER_PRODUCTION, day, result.clean, run_id=run_id)
    q_version = store.replace_partition(QUARANTINE_PRODUCTION, day, result.quarantined, run_id=run_id)
    (evaluation,) = gate_partitions(store, settings, [result.gated(day.isoformat())], run_id=run_id)
    return [
        materialized(SILVER_PRODUCTION, _silver_metadata(result, version), evaluation),
        materialized(
            QUARANTINE_PRODUCTION, quarantine_metadata(result.quarantined, result.reasons, q_version)
        ),
    ]


def _silver_metadata(result: ProductionResult, version: int) -> dict:
    return {
        "dagster/row_count": result.clean.height,
        "landed": result.landed,
        "quarantined": result.quarantined.height,
        "duplicates": result.duplicates,
        "lines_reporting": result.clean["line_id"].n_unique(),
        "delta_version": version,
        "preview": preview(result.clean),
    }


@asset(
    **spec_kwargs(PRODUCTION_DAILY),
    partitions_def=daily_local,
    backfill_policy=daily_backfill,
    deps=[SILVER_PRODUCTION.asset_key, ENTERPRISE.asset_key],
    check_specs=checks_for(PRODUCTION_DAILY, reconciles=True),
)
def theme_production_daily(context: AssetExecutionContext, lake: LakeResource):
    """OEE per line x local day (availability x performance x quality)."""
    span = DayRange.of(context, upstream=[AssetKey(SILVER_PRODUCTION.asset_key)])
    enterprises = lake.lake.read(ENTERPRISE)
    for day in span.to_build:
        span.add(day, [production_daily_day(lake.lake, lake.settings, day, enterprises, context.run_id)])
    yield from span.results(context, [AssetKey(PRODUCTION_DAILY.asset_key)])


def production_daily_day(
    store: Lake, settings: Settings, day: dt.date, enterprises: pl.DataFrame, run_id: str
) -> MaterializeResult:
    silver = store.read(SILVER_PRODUCTION, partition=day)
    df = production_daily(silver, enterprises)
    version = store.replace_partition(PRODUCTION_DAILY, day, df, run_id=run_id)
    # every clean record of the day is one line-day row
    gated = Gated(PRODUCTION_DAILY, df, day.isoformat(), Reconciliation(silver.height, df.height, 0, 0))
    (evaluation,) = gate_partitions(store, settings, [gated], run_id=run_id)
    return MaterializeResult(
        asset_key=PRODUCTION_DAILY.asset_key,
        metadata=_daily_metadata(df, version),
        check_results=evaluation.check_results,
    )


def _daily_metadata(df: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": df.height,
        **partition_oee(df),
        "delta_version": version,
        "preview": preview(df),
    }


@asset(
    **spec_kwargs(PRODUCTION_ENTERPRISE_DAILY),
    partitions_def=daily_local,
    backfill_policy=daily_backfill,
    deps=[PRODUCTION_DAILY.asset_key, ENERGY_DAILY.asset_key],
    check_specs=checks_for(PRODUCTION_ENTERPRISE_DAILY, reconciles=True),
)
def theme_production_enterprise_daily(context: AssetExecutionContext, lake: LakeResource):
    """OEE rolled up per enterprise x local day by summing components; energy intensity = tce / output."""
    span = DayRange.of(
        context, upstream=[AssetKey(PRODUCTION_DAILY.asset_key), AssetKey(ENERGY_DAILY.asset_key)]
    )
    for day in span.to_build:
        span.add(day, [production_enterprise_day(lake.lake, lake.settings, day, context.run_id)])
    yield from span.results(context, [AssetKey(PRODUCTION_ENTERPRISE_DAILY.asset_key)])


def production_enterprise_day(
    store: Lake, settings: Settings, day: dt.date, run_id: str
) -> MaterializeResult:
    lines = store.read(PRODUCTION_DAILY, partition=day)
    energy = store.read(ENERGY_DAILY, partition=day, columns=["uscc", "energy_tce"])
    df = enterprise_daily(lines, energy, day=day)
    version = store.replace_partition(PRODUCTION_ENTERPRISE_DAILY, day, df, run_id=run_id)
    evaluation = gate_partition(
        store,
        settings,
        PRODUCTION_ENTERPRISE_DAILY,
        df,
        partition=day.isoformat(),
        run_id=run_id,
        recon=Reconciliation(lines.height, int(df["lines"].sum() or 0), 0, 0),  # each line-day in one row
    )
    return MaterializeResult(
        asset_key=PRODUCTION_ENTERPRISE_DAILY.asset_key,
        metadata=_enterprise_oee_metadata(df, version),
        check_results=evaluation.check_results,
    )


def _enterprise_oee_metadata(df: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": df.height,
        **partition_oee(df),
        "energy_tce": float(df["energy_tce"].sum() or 0.0),
        "enterprises_with_intensity": int(df["energy_intensity"].is_not_null().sum()),
        "delta_version": version,
        "preview": preview(df),
    }
