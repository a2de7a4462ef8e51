"""The Dagster code location: assets, checks, jobs, schedules, sensors and resources, merged here."""

from __future__ import annotations

from dagster import Definitions, load_assets_from_modules

import assets.enterprise.assets as enterprise_assets
import assets.telemetry.assets as telemetry_assets
import assets.theme.assets as theme_assets
from assets.resources import LakeResource, WarehouseResource
from orchestration.jobs import daily_job, daily_schedule, dirty_days_sensor, ingest_job, ingest_schedule, landing_sensor
from warehouse.settings import settings


def resources() -> dict:
    """The embedded default: a local Delta lake and DuckDB file under LAKEHOUSE_HOME."""
    s = settings()
    return {
        "lake": LakeResource(
            home=str(s.home),
            late_watermark_days=s.late_watermark_days,
            natural_gas_kgce_per_m3=s.natural_gas_kgce_per_m3,
            partitions_start=s.partitions_start.isoformat(),
        ),
        "warehouse": WarehouseResource(database=str(s.warehouse_db)),
    }


defs = Definitions(
    assets=load_assets_from_modules([enterprise_assets, telemetry_assets, theme_assets]),
    jobs=[ingest_job, daily_job],
    schedules=[ingest_schedule, daily_schedule],
    sensors=[landing_sensor, dirty_days_sensor],
    resources=resources(),
)
