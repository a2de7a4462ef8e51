"""Telemetry assets: landing -> bronze (ingest); per local day, in shards: silver, quarantine, energy, equipment."""

import datetime as dt

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, multi_asset

from assets.build_record import provisional_marks, run_started_at
from assets.day_range import DayRange, daily_backfill
from assets.metadata import asset_spec, counts_table, preview, quarantine_metadata
from assets.partitions import daily_local
from assets.resources import LakeResource, WarehouseResource
from assets.telemetry.gates import gate_ingest_day, gate_silver_day, gate_themes_day
from assets.telemetry.ingest import IngestResult, ingest_home
from assets.telemetry.shards import DayBuild, build_home_day, commit_day
from quality.checks import Evaluation, checks_for
from warehouse.domain import COMPLETE_DAY_SHARE
from warehouse.registry import (
    BRONZE_TELEMETRY,
    ENERGY_DAILY,
    ENTERPRISE,
    EQUIPMENT,
    EQUIPMENT_DAILY,
    LANDING_FILES,
    QUARANTINE_TELEMETRY,
    SILVER_TELEMETRY,
    TableSpec,
)
from warehouse.settings import Settings
from warehouse.storage import Lake


@multi_asset(
    specs=[asset_spec(BRONZE_TELEMETRY), asset_spec(LANDING_FILES)],
    check_specs=checks_for(BRONZE_TELEMETRY),
    name="ingest_telemetry",
)
def ingest_telemetry(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
    """Every new landing file once: ingested into bronze, skipped as a re-sent copy, or rejected."""

    def progress(done: int, total: int | None) -> None:
        """Files handed to the parse so far; the total once the landing folder is listed to its end."""
        if total is not None:
            context.log.info(f"landing files: {done}/{total}")
        elif done % 200 == 0:
            context.log.info(f"landing files: {done} so far")

    result = ingest_home(lake.settings, lake.lake, run_id=context.run_id, progress=progress)
    evaluation = gate_ingest_day(
        lake.lake, lake.settings, files_seen=result.files.height, run_id=context.run_id
    )
    warehouse.refresh(lake.lake)
    yield MaterializeResult(
        asset_key=BRONZE_TELEMETRY.asset_key,
        metadata=_bronze_metadata(result),
        check_results=evaluation.check_results,
    )
    yield MaterializeResult(asset_key=LANDING_FILES.asset_key, metadata=_landing_metadata(result))


def _bronze_metadata(result: IngestResult) -> dict:
    return {
        "dagster/row_count": result.records,
        "records_ingested": result.records,
        "files_ingested": result.count("ingested"),
        "delta_version": result.bronze_version if result.bronze_version is not None else -1,
        "reading_days_touched": MetadataValue.json([d.isoformat() for d in result.days_touched]),
    }


def _landing_metadata(result: IngestResult) -> dict:
    return {
        "files_seen": result.files.height,
        "files_ingested": result.count("ingested"),
        "files_duplicate": result.count("duplicate_file"),
        "files_rejected": result.count("rejected"),
        "rejected_by_reason": counts_table(result.rejected_by_reason),
        "preview": preview(result.files.drop("reading_days")),
    }


@multi_asset(
    specs=[
        asset_spec(
            SILVER_TELEMETRY,
            deps=[BRONZE_TELEMETRY.asset_key, EQUIPMENT.asset_key],
            partitions_def=daily_local,
        ),
        asset_spec(QUARANTINE_TELEMETRY, deps=[BRONZE_TELEMETRY.asset_key], partitions_def=daily_local),
        # Built only when silver passes its blocking checks (else the previous version stays).
        asset_spec(
            ENERGY_DAILY,
            deps=[SILVER_TELEMETRY.asset_key, EQUIPMENT.asset_key, ENTERPRISE.asset_key],
            partitions_def=daily_local,
            skippable=True,
        ),
        asset_spec(
            EQUIPMENT_DAILY,
            deps=[SILVER_TELEMETRY.asset_key, EQUIPMENT.asset_key],
            partitions_def=daily_local,
            skippable=True,
        ),
    ],
    check_specs=[
        *checks_for(SILVER_TELEMETRY, reconciles=True),
        *checks_for(ENERGY_DAILY, reconciles=True),
        *checks_for(EQUIPMENT_DAILY, reconciles=True),
    ],
    name="build_telemetry_day",
    backfill_policy=daily_backfill,
    can_subset=True,  # outputs (and their checks) optional: themes are skipped when silver is blocked
)
def build_telemetry_day(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
    """Each local day of the run in K shards by equipment: silver (typed, deduplicated readings),
    quarantine, and the energy and equipment themes; one Delta commit per table for each day."""
    span, started = DayRange.of(context), run_started_at(context)
    for day in span.days:
        span.add(day, telemetry_day(context, lake.lake, lake.settings, day, started))
    if not span.to_build:
        warehouse.refresh(lake.lake)  # day_build will not run: show the quarantine to the engineers now
    yield from span.results(context, sorted(context.selected_asset_keys, key=TELEMETRY_KEYS.index))


TELEMETRY_KEYS = [
    AssetKey(s.asset_key) for s in (SILVER_TELEMETRY, QUARANTINE_TELEMETRY, ENERGY_DAILY, EQUIPMENT_DAILY)
]


def telemetry_day(
    context: AssetExecutionContext, store: Lake, settings: Settings, day: dt.date, started: dt.datetime
) -> list[MaterializeResult]:
    """One day's build, commits and gates; the themes only when silver passed its blocking checks
    (else their previous version stays). What a run of that day alone yields."""
    run_id = context.run_id
    build = build_home_day(settings, store, day, run_id=run_id)
    warn_redelivered(context, build)
    versions = commit_day(store, build, (SILVER_TELEMETRY, QUARANTINE_TELEMETRY), run_id=run_id)
    silver_gate = gate_silver_day(store, settings, build, run_id=run_id)
    marks = provisional_marks(day, started)  # today's figures so far, in the UI
    results = list(day_results(build, versions, silver_gate, marks))
    if not silver_gate.passed_blocking:
        context.log.warning(f"{day}: silver failed a blocking check; energy and equipment themes not rebuilt")
        return results
    versions |= commit_day(store, build, (ENERGY_DAILY, EQUIPMENT_DAILY), run_id=run_id)
    energy_gate, equipment_gate = gate_themes_day(store, settings, build, run_id=run_id)
    return results + list(theme_results(build, versions, energy_gate, equipment_gate, marks))


def warn_redelivered(context: AssetExecutionContext, build: DayBuild) -> None:
    """Visible in the run's log: a worker died holding a shard, which another worker then built, or a
    shard was sent again after an I/O error."""
    for r in build.shards:
        if r.redelivered:
            context.log.warning(
                f"{build.day}: shard {r.shard} was redelivered to {r.worker} after a worker was lost"
            )
        if r.retries:
            context.log.warning(f"{build.day}: shard {r.shard} built by {r.worker} after {r.retries} retries")


def shard_metadata(build: DayBuild) -> dict:
    """How the day was built: shards, rows per shard, seconds per phase, peak RSS of any process."""
    return {
        "shards": len(build.shards),
        "rows_per_shard": MetadataValue.json(build.rows_per_shard),
        "seconds_per_phase": MetadataValue.json({k: round(v, 3) for k, v in build.seconds.items()}),
        "peak_rss_mib": round(build.peak_rss_bytes / (1 << 20)),
        "workers": MetadataValue.json(sorted({s.worker for s in build.shards if s.worker})),
        "redelivered_shards": MetadataValue.json([s.shard for s in build.shards if s.redelivered]),
        "retried_shards": MetadataValue.json({str(s.shard): s.retries for s in build.shards if s.retries}),
    }


def day_results(
    build: DayBuild, versions: dict[str, int], gate: Evaluation, marks: tuple[dict, dict[str, str]]
):
    """The MaterializeResults of silver.telemetry and quarantine.telemetry of a sharded day; `marks` are
    the provisional metadata and tags (assets.build_record.provisional_marks)."""
    flags, tags = marks
    seconds = sum(build.seconds.values())
    yield MaterializeResult(
        asset_key=SILVER_TELEMETRY.asset_key,
        metadata={
            "dagster/row_count": build.clean,
            "landed": build.landed,
            "clean": build.clean,
            "quarantined": build.quarantined,
            "duplicates": build.duplicates,
            **build.flags,
            "equipment_reporting": build.equipment_reporting,
            "build_seconds": round(seconds, 3),
            "landed_rows_per_second": round(build.landed / seconds) if seconds else 0,
            **shard_metadata(build),
            "delta_version": versions[SILVER_TELEMETRY.name],
            "preview": preview(build.shards[0].silver_head if build.shards else pl.DataFrame()),
            **flags,
        },
        check_results=gate.check_results,
        tags=tags,
    )
    head = pl.concat([s.quarantine_head for s in build.shards]) if build.shards else pl.DataFrame()
    yield MaterializeResult(
        asset_key=QUARANTINE_TELEMETRY.asset_key,
        metadata={
            **quarantine_metadata(head, build.reasons, versions[QUARANTINE_TELEMETRY.name]),
            "dagster/row_count": build.quarantined,
            **flags,
        },
        tags=tags,
    )


def theme_results(
    build: DayBuild,
    versions: dict[str, int],
    energy_gate: Evaluation,
    equipment_gate: Evaluation,
    marks: tuple[dict, dict[str, str]],
):
    """The MaterializeResults of theme.energy_daily and theme.equipment_daily of a sharded day."""
    df, ops = build.energy, build.equipment
    energy = {
        "energy_tce": float(df["energy_tce"].sum() or 0.0),
        "electricity_kwh": float(df["electricity_kwh"].sum() or 0.0),
        "natural_gas_m3": float(df["natural_gas_m3"].sum() or 0.0),
        "coal_t": float(df["coal_t"].sum() or 0.0),
        "completeness_pct_mean": float(df["completeness_pct"].mean() or 0.0),
        "equipment_complete_share": float((df["completeness_pct"] >= COMPLETE_DAY_SHARE * 100).mean() or 0.0),
        "enterprises_reporting": df["uscc"].n_unique(),
    }
    equipment = {
        "running_hours": float(ops["running_hours"].sum() or 0.0),
        "availability_pct_mean": float(ops["availability_pct"].mean() or 0.0),
        "limit_exceedances": int(ops["limit_exceedances"].sum() or 0),
    }
    yield _theme_result(ENERGY_DAILY, df, energy, build, versions[ENERGY_DAILY.name], energy_gate, marks)
    yield _theme_result(
        EQUIPMENT_DAILY, ops, equipment, build, versions[EQUIPMENT_DAILY.name], equipment_gate, marks
    )


def _theme_result(
    spec: TableSpec,
    df: pl.DataFrame,
    measures: dict,
    build: DayBuild,
    version: int,
    gate: Evaluation,
    marks: tuple[dict, dict[str, str]],
) -> MaterializeResult:
    """A theme table's result: its day's measures, how the day was built, its version and checks."""
    flags, tags = marks
    metadata = {
        "dagster/row_count": df.height,
        **measures,
        **shard_metadata(build),
        "delta_version": version,
        "preview": preview(df),
        **flags,
    }
    return MaterializeResult(
        asset_key=spec.asset_key, metadata=metadata, check_results=gate.check_results, tags=tags
    )
