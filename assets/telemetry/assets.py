"""Telemetry assets: landing -> bronze (ingest) -> silver + quarantine (per local day)."""

import datetime as dt
import time
from zoneinfo import ZoneInfo

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, multi_asset

from assets.gate import gate_partition
from assets.metadata import asset_spec, counts_table, preview, quarantine_metadata
from assets.partitions import daily_local
from assets.resources import LakeResource, WarehouseResource
from assets.telemetry.ingest import current_bronze, ingest_landing, trailing_clean_counts
from assets.telemetry.transform import clean_telemetry
from quality.checks import Reconciliation, checks_for, evaluate
from warehouse.domain import TIMEZONE
from warehouse.registry import (
    BRONZE_TELEMETRY,
    ENTERPRISE,
    EQUIPMENT,
    LANDING_FILES,
    QUALITY_RESULTS,
    QUARANTINE_TELEMETRY,
    RECONCILIATION,
    SILVER_TELEMETRY,
)


@multi_asset(
    specs=[asset_spec(BRONZE_TELEMETRY), asset_spec(LANDING_FILES)],
    check_specs=checks_for(BRONZE_TELEMETRY),
    name="ingest_telemetry",
)
def ingest_telemetry(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
    """Every new landing file once: ingested into bronze, skipped as a re-sent copy, or rejected."""

    def progress(done: int, total: int) -> None:
        if done == total or done % 200 == 0:
            context.log.info(f"landing files: {done}/{total}")

    settings = lake.settings
    result = ingest_landing(
        settings.landing,
        lake.lake,
        run_id=context.run_id,
        watermark_days=settings.late_watermark_days,
        future_tolerance=settings.future_tolerance,
        in_progress_max_age=settings.in_progress_max_age,
        progress=progress,
    )
    ledger = lake.lake.read(LANDING_FILES)
    today = dt.datetime.now(ZoneInfo(TIMEZONE)).date()
    evaluation = evaluate(
        BRONZE_TELEMETRY,
        ledger,
        partition=today.isoformat(),
        run_id=context.run_id,
        gx_home=settings.gx_home,
        context={"run_id": context.run_id, "today": today},
    )
    lake.lake.upsert(QUALITY_RESULTS, evaluation.results, run_id=context.run_id)
    warehouse.refresh(lake.lake)
    days = [d.isoformat() for d in result.days_touched]
    yield MaterializeResult(
        asset_key=BRONZE_TELEMETRY.asset_key,
        metadata={
            "dagster/row_count": result.records,
            "records_ingested": result.records,
            "files_ingested": result.count("ingested"),
            "delta_version": result.bronze_version if result.bronze_version is not None else -1,
            "reading_days_touched": MetadataValue.json(days),
        },
        check_results=evaluation.check_results,
    )
    yield MaterializeResult(
        asset_key=LANDING_FILES.asset_key,
        metadata={
            "files_seen": result.files.height,
            "files_ingested": result.count("ingested"),
            "files_duplicate": result.count("duplicate_file"),
            "files_rejected": result.count("rejected"),
            "rejected_by_reason": counts_table(result.rejected_by_reason),
            "preview": preview(result.files.drop("reading_days")),
        },
    )


@multi_asset(
    specs=[
        asset_spec(
            SILVER_TELEMETRY,
            deps=[BRONZE_TELEMETRY.asset_key, EQUIPMENT.asset_key],
            partitions_def=daily_local,
        ),
        asset_spec(QUARANTINE_TELEMETRY, deps=[BRONZE_TELEMETRY.asset_key], partitions_def=daily_local),
    ],
    check_specs=checks_for(SILVER_TELEMETRY, reconciles=True),
    name="build_silver_telemetry",
)
def build_silver_telemetry(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
    """Typed, deduplicated readings of one local day; unusable records to quarantine with a reason."""
    started = time.perf_counter()
    day = dt.date.fromisoformat(context.partition_key)
    store, settings = lake.lake, lake.settings
    raw = current_bronze(store.read(BRONZE_TELEMETRY, where=_reading_day_is(day)), store.read(LANDING_FILES))
    result = clean_telemetry(
        raw,
        store.read(EQUIPMENT),
        day=day,
        run_id=context.run_id,
        watermark_days=settings.late_watermark_days,
        future_tolerance=settings.future_tolerance,
    )
    silver_version = store.replace_partition(SILVER_TELEMETRY, day, result.clean, run_id=context.run_id)
    quarantine_version = store.replace_partition(
        QUARANTINE_TELEMETRY, day, result.quarantined, run_id=context.run_id
    )
    build_seconds = time.perf_counter() - started
    recon = Reconciliation(result.landed, result.clean.height, result.quarantined.height, result.duplicates)
    evaluation = gate_partition(
        store,
        settings,
        SILVER_TELEMETRY,
        result.clean,
        partition=context.partition_key,
        run_id=context.run_id,
        recon=recon,
        row_rule_counts=result.reasons,
        evaluated=result.landed,
        context={
            "landed": result.landed,
            "quarantine_reasons": result.reasons,
            "enterprises": store.read(ENTERPRISE, columns=["uscc"]),
            "trailing_row_counts": trailing_clean_counts(
                store.read(RECONCILIATION), SILVER_TELEMETRY.name, day
            ),
        },
    )
    warehouse.refresh(store)
    flags = result.flags
    yield MaterializeResult(
        asset_key=SILVER_TELEMETRY.asset_key,
        metadata={
            "dagster/row_count": result.clean.height,
            "landed": result.landed,
            "clean": result.clean.height,
            "quarantined": result.quarantined.height,
            "duplicates": result.duplicates,
            "good": flags["good"],
            "uncertain": flags["uncertain"],
            "bad": flags["bad"],
            "equipment_reporting": result.clean["equipment_id"].n_unique(),
            "build_seconds": round(build_seconds, 3),
            "landed_rows_per_second": round(result.landed / build_seconds) if build_seconds else 0,
            "delta_version": silver_version,
            "preview": preview(result.clean),
        },
        check_results=evaluation.check_results,
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_TELEMETRY.asset_key,
        metadata=quarantine_metadata(result.quarantined, result.reasons, quarantine_version),
    )


def _reading_day_is(day: dt.date) -> pl.Expr:
    return pl.col("reading_day") == pl.lit(day)
