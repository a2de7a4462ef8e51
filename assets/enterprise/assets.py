"""Enterprise and equipment master data assets."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.enterprise.master import read_master
from assets.metadata import preview, spec_kwargs
from assets.resources import LakeResource, WarehouseResource
from quality.checks import checks_for, evaluate
from warehouse.registry import ENTERPRISE, EQUIPMENT, QUALITY_RESULTS, TableSpec


def _gate(spec: TableSpec, df: pl.DataFrame, context: AssetExecutionContext, lake: LakeResource) -> list:
    evaluation = evaluate(spec, df, partition="current", run_id=context.run_id, gx_home=lake.settings.gx_home)
    lake.lake.upsert(QUALITY_RESULTS, evaluation.results, run_id=context.run_id)
    return evaluation.check_results


@asset(**spec_kwargs(ENTERPRISE), check_specs=checks_for(ENTERPRISE))
def silver_enterprise(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> MaterializeResult:
    df = read_master(lake.settings.landing / "master", ENTERPRISE)
    version = lake.lake.overwrite(ENTERPRISE, df, run_id=context.run_id)
    warehouse.refresh(lake.lake)
    by_city = df.group_by("city_code").len().sort("city_code")
    return MaterializeResult(
        metadata={"dagster/row_count": df.height, "delta_version": version, "cities": by_city.height,
                  "by_city": preview(by_city, rows=20), "preview": preview(df)},
        check_results=_gate(ENTERPRISE, df, context, lake),
    )


@asset(**spec_kwargs(EQUIPMENT), check_specs=checks_for(EQUIPMENT))
def silver_equipment(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> MaterializeResult:
    df = read_master(lake.settings.landing / "master", EQUIPMENT)
    version = lake.lake.overwrite(EQUIPMENT, df, run_id=context.run_id)
    warehouse.refresh(lake.lake)
    by_type = df.group_by("equipment_type").len().sort("equipment_type")
    return MaterializeResult(
        metadata={
            "dagster/row_count": df.height,
            "delta_version": version,
            "enterprises_connected": df["uscc"].n_unique(),
            "by_type": preview(by_type, rows=20),
        },
        check_results=_gate(EQUIPMENT, df, context, lake),
    )
