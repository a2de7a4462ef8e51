"""Enterprise master data assets: the golden record (register + roster, SCD2) and equipment."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset, multi_asset

from assets.enterprise.golden import build_registry, current
from assets.enterprise.master import read_master
from assets.metadata import asset_spec, preview, quarantine_metadata, spec_kwargs
from assets.reconcile import record, total
from assets.resources import LakeResource, WarehouseResource
from quality.checks import Reconciliation, checks_for, evaluate
from warehouse.registry import (
    DCMM_ASSESSMENT,
    ENTERPRISE,
    EQUIPMENT,
    QUALITY_RESULTS,
    QUARANTINE_ENTERPRISE,
    TableSpec,
)


def _gate(
    spec: TableSpec, df: pl.DataFrame, context: AssetExecutionContext, lake: LakeResource, **kw
) -> list:
    evaluation = evaluate(
        spec, df, partition="current", run_id=context.run_id, gx_home=lake.settings.gx_home, **kw
    )
    lake.lake.upsert(QUALITY_RESULTS, evaluation.results, run_id=context.run_id)
    return evaluation.check_results


@multi_asset(
    specs=[asset_spec(ENTERPRISE), asset_spec(QUARANTINE_ENTERPRISE), asset_spec(DCMM_ASSESSMENT)],
    check_specs=checks_for(ENTERPRISE, reconciles=True) + checks_for(DCMM_ASSESSMENT),
    name="golden_record",
)
def golden_record(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
    """Register exports + industry roster -> golden record (SCD2 via Delta MERGE), quarantine, DCMM."""
    store = lake.lake
    build = build_registry(lake.settings.landing / "registry")
    applied, stale = [], []
    for as_of, state in build.snapshots:
        latest = (
            store.read(ENTERPRISE, columns=["valid_from"])["valid_from"].max()
            if store.exists(ENTERPRISE)
            else None
        )
        if latest is not None and as_of < latest:
            stale.append(as_of.isoformat())
            continue
        applied.append(
            {
                "as_of": as_of.isoformat(),
                **store.scd2_merge(ENTERPRISE, state, as_of=as_of, run_id=context.run_id),
            }
        )
    q_version = store.overwrite(QUARANTINE_ENTERPRISE, build.quarantined, run_id=context.run_id)
    d_version = store.overwrite(DCMM_ASSESSMENT, build.assessments, run_id=context.run_id)
    parts = {
        v.source_file: Reconciliation(v.landed, v.clean.height, v.quarantined.height, v.duplicates)
        for v in build.files
    }
    if build.roster is not None:
        r = build.roster
        src = r.quarantined["source_file"][0] if r.quarantined.height else "registry/roster"
        parts[src] = Reconciliation(
            r.landed, r.landed - r.quarantined.height - r.duplicates, r.quarantined.height, r.duplicates
        )
    record(store, ENTERPRISE, parts, context.run_id)
    history = store.read(ENTERPRISE)
    golden = current(history)
    warehouse.refresh(store)
    yield MaterializeResult(
        asset_key=ENTERPRISE.asset_key,
        metadata={
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
        },
        check_results=_gate(
            ENTERPRISE,
            golden,
            context,
            lake,
            reconciliation=total(parts),
            row_rule_counts=build.reasons,
            evaluated=total(parts).landed,
        ),
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_ENTERPRISE.asset_key,
        metadata=quarantine_metadata(build.quarantined, build.reasons, q_version),
    )
    yield MaterializeResult(
        asset_key=DCMM_ASSESSMENT.asset_key,
        metadata={
            "dagster/row_count": build.assessments.height,
            "delta_version": d_version,
            "enterprises_assessed": build.assessments["uscc"].n_unique(),
        },
        check_results=_gate(DCMM_ASSESSMENT, build.assessments, context, lake),
    )


@asset(**spec_kwargs(EQUIPMENT), check_specs=checks_for(EQUIPMENT))
def silver_equipment(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
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
