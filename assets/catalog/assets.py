"""Catalog assets: the quality scorecard."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.catalog.scorecard import quality_scorecard
from assets.metadata import preview, spec_kwargs
from assets.resources import LakeResource, WarehouseResource
from quality.gx import build_data_docs
from warehouse.registry import (
    ENERGY_DAILY,
    EQUIPMENT_DAILY,
    QUALITY_RESULTS,
    QUALITY_SCORECARD,
    SILVER_TELEMETRY,
)


@asset(**spec_kwargs(QUALITY_SCORECARD), deps=[s.asset_key for s in (SILVER_TELEMETRY, ENERGY_DAILY, EQUIPMENT_DAILY)])
def catalog_quality_scorecard(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    """Pass rate per table per day; the latest day's rates are numeric metadata the UI plots over time."""
    store = lake.lake
    card = quality_scorecard(store.read(QUALITY_RESULTS))
    version = store.overwrite(QUALITY_SCORECARD, card, run_id=context.run_id)
    warehouse.refresh(store)
    docs = build_data_docs(lake.settings.gx_home)
    latest = card.sort("partition").group_by("table_name").last()
    overall = card.group_by("table_name").agg(
        (1.0 - pl.col("rows_failed").sum() / pl.col("rows_evaluated").sum()).alias("rate")
    )
    return MaterializeResult(
        metadata={
            "dagster/row_count": card.height,
            "delta_version": version,
            "partitions_with_failures": int((card["rules_failed"] > 0).sum()),
            **{f"pass_rate/{t}": float(r) for t, r in overall.iter_rows()},
            "latest_day": preview(latest, rows=20),
            "data_docs": MetadataValue.url(docs or ""),
        }
    )
