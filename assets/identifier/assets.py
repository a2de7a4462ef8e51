"""silver.identifier: handles issued once and kept (assets/identifier/issue.py)."""

import datetime as dt

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.gate import gate_partition
from assets.identifier.issue import changes, identified_objects, issue_identifiers
from assets.metadata import preview, spec_kwargs
from assets.resources import LakeResource
from quality.checks import checks_for
from warehouse.registry import DATA_PRODUCT, ENTERPRISE, EQUIPMENT, IDENTIFIER


@asset(
    **spec_kwargs(IDENTIFIER),
    deps=[ENTERPRISE.asset_key, EQUIPMENT.asset_key, DATA_PRODUCT.asset_key],
    check_specs=checks_for(IDENTIFIER),
)
def identifier(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Handles 88.<node>.<USCC>/<object> for enterprises, equipment, lines and registered data products."""
    store, now = lake.lake, dt.datetime.now(dt.UTC)
    previous = store.read(IDENTIFIER) if store.exists(IDENTIFIER) else pl.DataFrame(schema=IDENTIFIER.schema)
    golden = store.read(ENTERPRISE).filter(pl.col("valid_to").is_null())
    objects = identified_objects(golden, store.read(EQUIPMENT), store.read(DATA_PRODUCT), now=now)
    df = issue_identifiers(previous, objects, node=lake.settings.identifier_node, now=now)
    evaluation = gate_partition(
        store, lake.settings, IDENTIFIER, df, run_id=context.run_id, context={"previous": previous}
    )
    version = store.overwrite(IDENTIFIER, df, run_id=context.run_id) if evaluation.passed_blocking else None
    by_type = df.group_by("object_type").len()
    return MaterializeResult(
        metadata={
            "dagster/row_count": df.height,
            **{f"handles/{k}": v for k, v in changes(previous, df).items()},
            **{f"object_type/{t}": n for t, n in by_type.iter_rows()},
            "delta_version": version if version is not None else -1,
            "preview": preview(df),
        },
        check_results=evaluation.check_results,
    )
