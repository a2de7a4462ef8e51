"""Jobs, schedules and sensors: ingest new landing files, then (re)build the dirty local days."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from zoneinfo import ZoneInfo

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    in_process_executor,
    schedule,
    sensor,
)

from assets.build_record import catalog_build_asset, catalog_stale, day_build_asset, input_versions
from assets.day_range import RANGE_END_TAG, RANGE_START_TAG, day_ranges
from assets.partitions import daily_local
from assets.sync.assets import batch_key
from assets.telemetry.days import pending_days
from assets.telemetry.landing import list_landing_files
from warehouse.domain import TIMEZONE
from warehouse.registry import (
    INDUSTRY_LIBRARY_TABLES,
    QUALITY_RESULTS,
    RECONCILIATION,
    SYNC_CHANNELS,
    SYNC_LEDGER,
    TABLES,
    SyncChannel,
    TableSpec,
)
from warehouse.settings import settings

INGEST_KEYS: tuple[str, ...] = (
    "bronze/telemetry_raw",
    "catalog/landing_files",
    "silver/enterprise",
    "silver/equipment",
    "quarantine/enterprise",
    "silver/dcmm_assessment",
    "silver/data_product",
    "silver/trade",
    "quarantine/trade",
    "theme/trading_daily",
    "theme/dcmm_assessment",
)
# Every table of one local day. `catalog/day_build` is added after all of them: it records the day as
# built only when each of these committed in the run (assets/build_record.py).
DAILY_KEYS: tuple[str, ...] = (
    "silver/telemetry",
    "quarantine/telemetry",
    "theme/energy_daily",
    "theme/equipment_daily",
    "silver/production",
    "quarantine/production",
    "theme/production_daily",
    "theme/production_enterprise_daily",
    *("/".join(spec.asset_key) for spec in INDUSTRY_LIBRARY_TABLES.values()),
)
CATALOG_KEYS: tuple[str, ...] = (
    "silver/energy_report",
    "quarantine/energy_report",
    "catalog/energy_report_agreement",
    "catalog/quality_scorecard",
    "catalog/feed_status",
    "catalog/dataset",
    "catalog/column",
    "theme/enterprise",
    "catalog/enterprise_gaps",
    "industry/library_monthly",
    "theme/plan_progress",
    "silver/supplier_link",
    "industry/supply_chain_edges",
    "industry/supply_chain_nodes",
    "silver/identifier",
    "graph/node",
    "graph/edge",
)


def _keys(keys) -> list[AssetKey]:
    return [AssetKey.from_user_string(k) for k in keys]


def _tables(keys) -> list[TableSpec]:
    return [TABLES[k.replace("/", ".")] for k in keys]


day_build = day_build_asset(_keys(DAILY_KEYS))
# The catalog reflects what ingest and the days built: it is stale when any of those tables moved on.
# The quality logs too (the scorecard reads them); catalog_build records versions after catalog_job's own
# writes to them, so only someone else's write makes the catalog stale.
CATALOG_INPUTS: list[TableSpec] = [
    *_tables((*INGEST_KEYS, *DAILY_KEYS, "catalog/day_build")),
    QUALITY_RESULTS,
    RECONCILIATION,
]
catalog_build = catalog_build_asset(_keys(CATALOG_KEYS), CATALOG_INPUTS)
BUILD_RECORD_ASSETS = [day_build, catalog_build]

# In-process: one run costs ~0.7 s instead of ~6 s with a process per step, and Delta writers to one
# table must not run concurrently.
ingest_job = define_asset_job(
    "ingest_job",
    selection=AssetSelection.keys(*INGEST_KEYS),
    executor_def=in_process_executor,
    description="Master data (golden record, equipment), trading exports, and every new landing file into bronze.",
)
daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.keys(*DAILY_KEYS, "catalog/day_build"),
    partitions_def=daily_local,
    executor_def=in_process_executor,
    tags={"lakehouse/queue": "daily"},  # capped by the server profile's run queue
    description="A local day, or a range of consecutive days (LAKEHOUSE_DAYS_PER_RUN): silver readings and "
    "production, quarantine, energy, equipment and OEE themes, industry topic libraries, all gated per day; "
    "catalog/day_build last records each built day.",
)
catalog_job = define_asset_job(
    "catalog_job",
    selection=AssetSelection.keys(*CATALOG_KEYS, "catalog/catalog_build"),
    executor_def=in_process_executor,
    description=(
        "After the days are built: energy reports vs daily sums, enterprise profiles, the quality scorecard and "
        "the resource directory; catalog/catalog_build last records the input versions it reflects."
    ),
)


def last_day() -> dt.date:
    return dt.date.fromisoformat(daily_local.get_last_partition_key())


def dirty_days() -> list[dt.date]:
    """Days to (re)build: not completely built, or with records landed after their last complete build."""
    return pending_days(settings().open_lake(), last_day=last_day())


def catalog_pending() -> bool:
    return catalog_stale(settings().open_lake(), CATALOG_INPUTS)


def landing_fingerprint() -> str | None:
    """(path, size, mtime) over landing/telemetry: a change means files to ingest. None when empty."""
    files = list_landing_files(settings().landing / "telemetry")
    if not files:
        return None
    listing = "\n".join(f"{p}|{(st := p.stat()).st_size}|{st.st_mtime_ns}" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


ingest_schedule = ScheduleDefinition(
    name="ingest_daily",
    job=ingest_job,
    cron_schedule="0 1 * * *",
    execution_timezone="Asia/Shanghai",
    default_status=DefaultScheduleStatus.RUNNING,
)


@schedule(
    job=daily_job,
    cron_schedule="30 1 * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
)
def daily_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    """01:30 local: the day that closed at midnight, built in full.

    The partitions end at today (so today's figures can be built so far, provisionally), and a schedule
    built from the partitioned job would pick that last partition: today, not the day that just closed.
    """
    closed = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date() - dt.timedelta(days=1)
    return RunRequest(run_key=f"daily-{closed.isoformat()}", partition_key=closed.isoformat())


@sensor(job=ingest_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def landing_sensor(context: SensorEvaluationContext):
    """A change in landing/telemetry (new, re-delivered or removed files) triggers an ingest run.

    The cursor is a fingerprint of (path, size, mtime) over the folder; ingest itself is idempotent by
    content hash, so a spurious run adds nothing. `lakehouse materialize` sets the cursor after its ingest.
    """
    fingerprint = landing_fingerprint()
    if fingerprint is None or fingerprint == context.cursor:
        return SkipReason("no change in landing/telemetry")
    context.update_cursor(fingerprint)
    return RunRequest(run_key=f"landing-{fingerprint}")


@sensor(job=daily_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def dirty_days_sensor(context: SensorEvaluationContext):
    """Days not completely built (late data among them) are rebuilt: consecutive days in one run each
    range of at most LAKEHOUSE_DAYS_PER_RUN (assets/day_range.py), a lone day in a run of its own."""
    days = dirty_days()
    if not days:
        return SkipReason("no dirty days")
    cursor = context.cursor or ""
    stamp = hashlib.sha256((cursor + ",".join(map(str, days))).encode()).hexdigest()[:12]
    return [
        days_request(span, f"dirty-{span[0]}-{span[-1]}-{stamp}")
        for span in day_ranges(days, settings().days_per_run)
    ]


def days_request(days: list[dt.date], run_key: str) -> RunRequest:
    """A daily_job run of consecutive days: the day's partition, or the range's tags."""
    if len(days) == 1:
        return RunRequest(run_key=run_key, partition_key=days[0].isoformat())
    return RunRequest(
        run_key=run_key, tags={RANGE_START_TAG: days[0].isoformat(), RANGE_END_TAG: days[-1].isoformat()}
    )


@sensor(job=catalog_job, minimum_interval_seconds=120, default_status=DefaultSensorStatus.RUNNING)
def catalog_sensor(context: SensorEvaluationContext):
    """The catalog is rebuilt once the tables it reflects moved on and no day is left to build.

    The cursor is the fingerprint of the input versions last requested, so one change asks for one run.
    """
    if dirty_days() or not catalog_pending():
        return SkipReason("no day left to build, or catalog up to date")
    versions = json.dumps(input_versions(settings().open_lake(), CATALOG_INPUTS), sort_keys=True)
    fingerprint = hashlib.sha256(versions.encode()).hexdigest()[:16]
    if fingerprint == context.cursor:
        return SkipReason("catalog run already requested for these input versions")
    context.update_cursor(fingerprint)
    return RunRequest(run_key=f"catalog-{fingerprint}")


housekeeping_job = define_asset_job(
    "housekeeping_job",
    selection=AssetSelection.keys("catalog/housekeeping"),
    executor_def=in_process_executor,
    description=(
        "Nightly: compact small files (Z-ordered by the registry's cluster_by), remove orphans, VACUUM "
        "(LAKEHOUSE_VACUUM_RETENTION_HOURS), checkpoint every table; delete old Dagster runs and GX results."
    ),
)
# 04:30 local: after ingest (01:00), the day builds (01:30) and the sync (03:00).
housekeeping_schedule = ScheduleDefinition(
    name="housekeeping_nightly",
    job=housekeeping_job,
    cron_schedule="30 4 * * *",
    execution_timezone=TIMEZONE,
    default_status=DefaultScheduleStatus.RUNNING,
)


sync_job = define_asset_job(
    "sync_job",
    selection=AssetSelection.groups("sync"),
    partitions_def=daily_local,
    executor_def=in_process_executor,
    tags={"lakehouse/queue": "sync"},  # one at a time in the server profile's run queue
    description="One local day released to the selected channels (the national center, industry nodes; "
    "skipped if its blocking checks failed). A restated day also reaches every channel that received it.",
)


def cadence_days(cron: str) -> int:
    """Days between a channel's ticks as far as new days go: 7 for a weekly cron (a day-of-week field),
    1 otherwise; the schedule looks back that far plus the late-data watermark."""
    return 7 if cron.split()[4] != "*" else 1


def _sync_schedule(channel: SyncChannel):
    """A channel's schedule at its cadence (its contract's cron, local time), selecting its batch."""

    @schedule(
        name="sync_schedule" if not channel.industry else f"sync_{channel.name}_schedule",
        job=sync_job,
        cron_schedule=channel.cadence,
        execution_timezone=TIMEZONE,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"{channel.name}: the days since its last tick and those late data may still restate. "
        "Stopped by default: it needs the node's URL and key (LAKEHOUSE_SYNC_*); unchanged days send nothing.",
    )
    def _evaluate(context: ScheduleEvaluationContext):
        today = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date()
        back = settings().late_watermark_days + cadence_days(channel.cadence)
        days = [today - dt.timedelta(days=n) for n in range(back, 0, -1)]
        return [
            RunRequest(
                run_key=f"sync-{channel.name}-{d}-{today}",
                partition_key=d.isoformat(),
                asset_selection=[batch_key(channel), AssetKey(SYNC_LEDGER.asset_key)],
                tags={"lakehouse/sync_channel": channel.name},
            )
            for d in days
            if d >= settings().partitions_start
        ]

    return _evaluate


# One schedule per channel: 03:00 national (yesterday and the late-data window), then each industry node
# at its own cadence (warehouse.registry.SYNC_CHANNELS).
SYNC_SCHEDULES = [_sync_schedule(c) for c in SYNC_CHANNELS.values()]
sync_schedule = SYNC_SCHEDULES[0]
