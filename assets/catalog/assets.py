"""Catalog assets: the quality scorecard and the resource directory."""

import datetime as dt

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset, multi_asset

from assets.catalog.feeds import lake_feed_status
from assets.catalog.scorecard import quality_scorecard
from assets.metadata import asset_spec, materialized, preview, spec_kwargs
from assets.resources import LakeResource, LineageResource
from quality.gx import build_data_docs
from warehouse.catalog.directory import build_directory
from warehouse.registry import (
    CATALOG_COLUMN,
    CATALOG_DATASET,
    ENERGY_DAILY,
    ENERGY_REPORT,
    EQUIPMENT,
    EQUIPMENT_DAILY,
    FEED_STATUS,
    QUALITY_RESULTS,
    QUALITY_SCORECARD,
    SILVER_TELEMETRY,
)


@asset(
    **spec_kwargs(QUALITY_SCORECARD),
    deps=[s.asset_key for s in (SILVER_TELEMETRY, ENERGY_DAILY, EQUIPMENT_DAILY, ENERGY_REPORT)],
)
def catalog_quality_scorecard(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Pass rate per table per day; the latest day's rates are numeric metadata the UI plots over time."""
    store = lake.lake
    card = quality_scorecard(store.read(QUALITY_RESULTS))
    version = store.overwrite(QUALITY_SCORECARD, card, run_id=context.run_id)
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


@multi_asset(
    specs=[
        asset_spec(CATALOG_DATASET, deps=[QUALITY_SCORECARD.asset_key]),
        asset_spec(CATALOG_COLUMN),
    ],
    name="resource_directory",
)
def resource_directory(context: AssetExecutionContext, lake: LakeResource, lineage: LineageResource):
    """The resource directory, rebuilt from the registry, the Delta logs, the asset graph and the scorecard."""
    store = lake.lake
    datasets, columns = build_directory(store, lineage.edges(), store.read(QUALITY_SCORECARD))
    v1 = store.overwrite(CATALOG_DATASET, datasets, run_id=context.run_id)
    v2 = store.overwrite(CATALOG_COLUMN, columns, run_id=context.run_id)
    yield materialized(CATALOG_DATASET, _datasets_metadata(datasets, v1))
    yield materialized(CATALOG_COLUMN, _columns_metadata(columns, v2))


def _datasets_metadata(datasets: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": datasets.height,
        "delta_version": version,
        "rows_in_lake": int(datasets["row_count"].fill_null(0).sum()),
        "bytes_in_lake": int(datasets["size_bytes"].fill_null(0).sum()),
        "preview": preview(
            datasets.select("table_name", "layer", "grade", "row_count", "pass_rate"), rows=30
        ),
    }


def _columns_metadata(columns: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": columns.height,
        "delta_version": version,
        "grade_3_columns": int((columns["grade"] == 3).sum()),
    }


@asset(**spec_kwargs(FEED_STATUS), deps=[SILVER_TELEMETRY.asset_key, EQUIPMENT.asset_key])
def catalog_feed_status(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Whether each enterprise's feed is on time now; late and silent counts are plotted over time."""
    status = lake_feed_status(lake.lake, lake.settings, now=dt.datetime.now(dt.UTC))
    version = lake.lake.overwrite(FEED_STATUS, status, run_id=context.run_id)
    counts = dict(status.group_by("status").len().iter_rows())
    return MaterializeResult(
        metadata={
            "dagster/row_count": status.height,
            "delta_version": version,
            **{f"feeds/{s}": int(counts.get(s, 0)) for s in ("on_time", "late", "silent")},
            "late": preview(status.filter(pl.col("status") != "on_time"), rows=20),
        }
    )
