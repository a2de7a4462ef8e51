"""Jobs, schedules and sensors: ingest new landing files, then (re)build the dirty local days."""

from __future__ import annotations

import hashlib

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
    sensor,
)

from assets.partitions import daily_local
from assets.telemetry.ingest import pending_days
from assets.telemetry.landing import list_landing_files
from warehouse.registry import LANDING_FILES
from warehouse.settings import settings
from warehouse.storage import Lake

# In-process: one run costs ~0.7 s instead of ~6 s with a process per step, and Delta writers to one
# table must not run concurrently.
ingest_job = define_asset_job(
    "ingest_job",
    selection=AssetSelection.groups("bronze") | AssetSelection.keys("silver/enterprise", "silver/equipment")
    | AssetSelection.keys("catalog/landing_files"),
    executor_def=in_process_executor,
    description="Master data and every new landing file into bronze.",
)
daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.keys("silver/telemetry", "quarantine/telemetry", "theme/energy_daily", "theme/equipment_daily"),
    partitions_def=daily_local,
    executor_def=in_process_executor,
    description="One local day: silver readings, quarantine, energy and equipment themes, all gated.",
)

ingest_schedule = ScheduleDefinition(
    name="ingest_daily",
    job=ingest_job,
    cron_schedule="0 1 * * *",
    execution_timezone="Asia/Shanghai",
    default_status=DefaultScheduleStatus.RUNNING,
)
daily_schedule = build_schedule_from_partitioned_job(
    daily_job, hour_of_day=1, minute_of_hour=30, default_status=DefaultScheduleStatus.RUNNING
)


@sensor(job=ingest_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def landing_sensor(context: SensorEvaluationContext):
    """New files in landing/telemetry (not yet in catalog.landing_files) trigger an ingest run."""
    s = settings()
    known = set(Lake(s.lake).read(LANDING_FILES, columns=["source_file"])["source_file"].to_list())
    new = sorted(
        rel for p in list_landing_files(s.landing / "telemetry")
        if (rel := p.relative_to(s.landing).as_posix()) not in known
    )
    if not new:
        return SkipReason("no new landing files")
    key = hashlib.sha256("\n".join(new).encode()).hexdigest()[:16]
    return RunRequest(run_key=f"landing-{key}", tags={"new_files": str(len(new))})


@sensor(job=daily_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def dirty_days_sensor(context: SensorEvaluationContext):
    """Days whose records landed after the day was built (late data) are rebuilt, one run per day."""
    days = pending_days(Lake(settings().lake))
    if not days:
        return SkipReason("no dirty days")
    cursor = context.cursor or ""
    stamp = hashlib.sha256((cursor + ",".join(map(str, days))).encode()).hexdigest()[:12]
    return [RunRequest(run_key=f"dirty-{d}-{stamp}", partition_key=d.isoformat()) for d in days]
