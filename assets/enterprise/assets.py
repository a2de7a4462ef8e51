"""Enterprise and equipment master data assets."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.enterprise.master import read_master
from assets.metadata import preview, spec_kwargs
from assets.resources import LakeResource, WarehouseResource
from warehouse.registry import ENTERPRISE, EQUIPMENT


@asset(**spec_kwargs(ENTERPRISE))
def silver_enterprise(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource) -> MaterializeResult:
    df = read_master(lake.settings.landing / "master", ENTERPRISE)
    version = lake.lake.overwrite(ENTERPRISE, df, run_id=context.run_id)
    warehouse.refresh(lake.lake)
    return MaterializeResult(
        metadata={"dagster/row_count": df.height, "delta_version": version, "preview": preview(df)}
    )


@asset(**spec_kwargs(EQUIPMENT))
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
        }
    )
