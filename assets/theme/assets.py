"""Theme library assets: energy and equipment per local day, gated by their checks."""

import datetime as dt
from zoneinfo import ZoneInfo

from dagster import AssetDep, AssetExecutionContext, MaterializeResult, TimeWindowPartitionMapping, asset

from assets.gate import gate_partition
from assets.metadata import preview, spec_kwargs
from assets.partitions import daily_local
from assets.resources import LakeResource, WarehouseResource
from assets.theme.energy import energy_daily, equipment_daily, last_meter_readings
from quality.checks import Reconciliation, checks_for
from warehouse.domain import TIMEZONE
from warehouse.registry import (
    ENERGY_DAILY,
    ENTERPRISE,
    EQUIPMENT,
    EQUIPMENT_DAILY,
    SILVER_TELEMETRY,
)

_SILVER_TODAY_AND_YESTERDAY = AssetDep(
    SILVER_TELEMETRY.asset_key, partition_mapping=TimeWindowPartitionMapping(start_offset=-1, end_offset=0)
)


@asset(
    **spec_kwargs(ENERGY_DAILY),
    partitions_def=daily_local,
    deps=[_SILVER_TODAY_AND_YESTERDAY, EQUIPMENT.asset_key, ENTERPRISE.asset_key],
    check_specs=checks_for(ENERGY_DAILY, reconciles=True),
)
def theme_energy_daily(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """Energy per enterprise x equipment x local day, per carrier and in tce (GB/T 2589)."""
    day = dt.date.fromisoformat(context.partition_key)
    store, settings = lake.lake, lake.settings
    readings = store.read(SILVER_TELEMETRY, partition=day)
    baseline = last_meter_readings(store.read(SILVER_TELEMETRY, partition=day - dt.timedelta(days=1)))
    df = energy_daily(
        readings, baseline, store.read(EQUIPMENT), store.read(ENTERPRISE), day=day, kgce=settings.kgce
    )
    version = store.replace_partition(ENERGY_DAILY, day, df, run_id=context.run_id)
    # Every silver reading of the day is counted in exactly one equipment row.
    recon = Reconciliation(readings.height, int(df["readings_received"].sum()), 0, 0)
    evaluation = gate_partition(
        store,
        settings,
        ENERGY_DAILY,
        df,
        partition=context.partition_key,
        run_id=context.run_id,
        recon=recon,
        context={"day_in_progress": day >= dt.datetime.now(ZoneInfo(TIMEZONE)).date()},
    )
    warehouse.refresh(store)
    return MaterializeResult(
        metadata={
            "dagster/row_count": df.height,
            "energy_tce": float(df["energy_tce"].sum() or 0.0),
            "electricity_kwh": float(df["electricity_kwh"].sum() or 0.0),
            "natural_gas_m3": float(df["natural_gas_m3"].sum() or 0.0),
            "coal_t": float(df["coal_t"].sum() or 0.0),
            "completeness_pct_mean": float(df["completeness_pct"].mean() or 0.0),
            "equipment_complete_share": float((df["completeness_pct"] >= 90).mean() or 0.0),
            "enterprises_reporting": df["uscc"].n_unique(),
            "delta_version": version,
            "preview": preview(df),
        },
        check_results=evaluation.check_results,
    )


@asset(
    **spec_kwargs(EQUIPMENT_DAILY),
    partitions_def=daily_local,
    deps=[SILVER_TELEMETRY.asset_key, EQUIPMENT.asset_key],
    check_specs=checks_for(EQUIPMENT_DAILY, reconciles=True),
)
def theme_equipment_daily(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """Running hours, starts, availability and alarm-limit exceedances per equipment x local day."""
    day = dt.date.fromisoformat(context.partition_key)
    store = lake.lake
    readings = store.read(SILVER_TELEMETRY, partition=day)
    df = equipment_daily(readings, store.read(EQUIPMENT), day=day)
    version = store.replace_partition(EQUIPMENT_DAILY, day, df, run_id=context.run_id)
    counted = int((df["readings_good"] + df["readings_uncertain"] + df["readings_bad"]).sum() or 0)
    recon = Reconciliation(readings.height, counted, 0, 0)
    evaluation = gate_partition(
        store,
        lake.settings,
        EQUIPMENT_DAILY,
        df,
        partition=context.partition_key,
        run_id=context.run_id,
        recon=recon,
    )
    warehouse.refresh(store)
    return MaterializeResult(
        metadata={
            "dagster/row_count": df.height,
            "running_hours": float(df["running_hours"].sum() or 0.0),
            "availability_pct_mean": float(df["availability_pct"].mean() or 0.0),
            "limit_exceedances": int(df["limit_exceedances"].sum() or 0),
            "delta_version": version,
            "preview": preview(df),
        },
        check_results=evaluation.check_results,
    )
