"""Enterprise master data assets: the golden record (register + roster, SCD2) and equipment."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset, multi_asset

from assets.enterprise.golden import RegistryBuild, apply_snapshots, build_registry, current, gated
from assets.enterprise.master import read_master
from assets.gate import gate_partition, gate_partitions
from assets.metadata import asset_spec, materialized, preview, quarantine_metadata, spec_kwargs
from assets.resources import LakeResource, WarehouseResource
from quality.checks import checks_for
from warehouse.registry import (
    DCMM_ASSESSMENT,
    ENTERPRISE,
    EQUIPMENT,
    QUARANTINE_ENTERPRISE,
)
from warehouse.storage import Lake


def _enterprise_metadata(
    history: pl.DataFrame, build: RegistryBuild, applied: list[dict], stale: list[str], store: Lake
) -> dict:
    golden = current(history)
    return {
        "dagster/row_count": history.height,
        "current_enterprises": golden.height,
        "versions_closed": int(history["valid_to"].is_not_null().sum()),
        "snapshots_applied": MetadataValue.json(applied),
        "stale_snapshots_ignored": MetadataValue.json(stale),
        "key_energy_users": int(golden["key_energy_user"].sum() or 0),
        "roster_conflicts_resolved": build.roster.conflicts if build.roster else 0,
        "roster_matched_by_name": build.roster.matched_by_name if build.roster else 0,
        "delta_version": store.version(ENTERPRISE) or 0,
        "by_city": preview(golden.group_by("city_code").len().sort("city_code"), rows=20),
    }


@multi_asset(
    specs=[asset_spec(ENTERPRISE), asset_spec(QUARANTINE_ENTERPRISE), asset_spec(DCMM_ASSESSMENT)],
    check_specs=checks_for(ENTERPRISE, reconciles=True) + checks_for(DCMM_ASSESSMENT),
    name="golden_record",
)
def golden_record(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
    """Register exports + industry roster -> golden record (SCD2 via Delta MERGE), quarantine, DCMM."""
    store = lake.lake
    build = build_registry(lake.settings.landing / "registry")
    applied, stale = apply_snapshots(store, build, context.run_id)
    q_version = store.overwrite(QUARANTINE_ENTERPRISE, build.quarantined, run_id=context.run_id)
    d_version = store.overwrite(DCMM_ASSESSMENT, build.assessments, run_id=context.run_id)
    history = store.read(ENTERPRISE)
    golden, dcmm = gate_partitions(store, lake.settings, gated(history, build), run_id=context.run_id)
    warehouse.refresh(store)
    yield materialized(ENTERPRISE, _enterprise_metadata(history, build, applied, stale, store), golden)
    yield materialized(
        QUARANTINE_ENTERPRISE, quarantine_metadata(build.quarantined, build.reasons, q_version)
    )
    yield materialized(DCMM_ASSESSMENT, _dcmm_metadata(build.assessments, d_version), dcmm)


def _dcmm_metadata(assessments: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": assessments.height,
        "delta_version": version,
        "enterprises_assessed": assessments["uscc"].n_unique(),
    }


@asset(**spec_kwargs(EQUIPMENT), check_specs=checks_for(EQUIPMENT))
def silver_equipment(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    df = read_master(lake.settings.landing / "master", EQUIPMENT)
    version = lake.lake.overwrite(EQUIPMENT, df, run_id=context.run_id)
    evaluation = gate_partition(lake.lake, lake.settings, EQUIPMENT, df, run_id=context.run_id)
    warehouse.refresh(lake.lake)
    by_type = df.group_by("equipment_type").len().sort("equipment_type")
    return MaterializeResult(
        metadata={
            "dagster/row_count": df.height,
            "delta_version": version,
            "enterprises_connected": df["uscc"].n_unique(),
            "by_type": preview(by_type, rows=20),
        },
        check_results=evaluation.check_results,
    )
