"""The housekeeping asset: its body calls `housekeep_home` and reports; housekeeping_job runs it nightly."""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetObservation,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.housekeeping.housekeep import housekeep_home
from assets.metadata import spec_kwargs
from assets.resources import LakeResource
from warehouse.registry import HOUSEKEEPING, TABLES


@asset(**spec_kwargs(HOUSEKEEPING))
def catalog_housekeeping(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Compaction (Z-ordered by cluster_by), orphans, VACUUM, checkpoints; old runs and GX results.

    Each table also gets an observation with its files and bytes before and after (its asset page).
    """
    done = housekeep_home(
        lake.lake, lake.settings, context.instance, run_id=context.run_id, now=dt.datetime.now(dt.UTC)
    )
    version = lake.lake.append(HOUSEKEEPING, done.rows(context.run_id), run_id=context.run_id)
    defined = context.repository_def.asset_graph.get_all_asset_keys()  # run logs are tables, not assets
    for r in (r for r in done.tables if AssetKey(TABLES[r.table].asset_key) in defined):
        context.log_event(AssetObservation(asset_key=TABLES[r.table].asset_key, metadata=r.observation()))
        if r.error:
            context.log.warning(f"housekeeping left {r.table} as it was: {r.error}")
    metadata = done.metadata()
    return MaterializeResult(
        metadata={**metadata, "report": MetadataValue.md(metadata["report"]), "delta_version": version}
    )
