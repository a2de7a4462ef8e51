"""The Dagster code location: assets, checks, jobs, schedules, sensors and resources, merged here."""

from __future__ import annotations

import json

from dagster import Definitions, EnvVar, load_assets_from_modules

import assets.catalog.assets as catalog_assets
import assets.energy_report.assets as energy_report_assets
import assets.enterprise.assets as enterprise_assets
import assets.housekeeping.assets as housekeeping_assets
import assets.industry.assets as industry_assets
import assets.production.assets as production_assets
import assets.sync.assets as sync_assets
import assets.telemetry.assets as telemetry_assets
import assets.theme.assets as theme_assets
import assets.theme.profile_assets as profile_assets
import assets.trading.assets as trading_assets
from assets.resources import LakeResource, LineageResource, WarehouseResource, lineage_from_assets
from assets.sync.assets import NationalNodeResource
from assets.sync.keys import KEY_ENV, KEY_ID_ENV, NODE_URL_ENV, export_sync_env
from orchestration.alerts import alert_sensor, run_failure_alert
from orchestration.freshness import feeds_on_time
from orchestration.jobs import (
    BUILD_RECORD_ASSETS,
    catalog_job,
    catalog_sensor,
    daily_job,
    daily_schedule,
    dirty_days_sensor,
    housekeeping_job,
    housekeeping_schedule,
    ingest_job,
    ingest_schedule,
    landing_sensor,
    sync_job,
    sync_schedule,
)
from warehouse.settings import settings

ALL_ASSETS = [
    *load_assets_from_modules(
        [
            catalog_assets,
            enterprise_assets,
            telemetry_assets,
            theme_assets,
            energy_report_assets,
            trading_assets,
            profile_assets,
            sync_assets,
            production_assets,
            industry_assets,
            housekeeping_assets,
        ]
    ),
    *BUILD_RECORD_ASSETS,
]


def resources() -> dict:
    """The embedded default: a local Delta lake and DuckDB file under LAKEHOUSE_HOME.

    Values resolve from the environment when a run starts (settings().prepare() exports them), so one
    code location serves whichever home the process points at.
    """
    settings().prepare()
    export_sync_env(settings().home)  # LAKEHOUSE_SYNC_KEY(_ID), or the home's generated demo key; node URL
    return {
        "lake": LakeResource(home=EnvVar("LAKEHOUSE_HOME")),
        "warehouse": WarehouseResource(database=EnvVar("LAKEHOUSE_WAREHOUSE_DB")),
        "lineage": LineageResource(edges_json=json.dumps(lineage_from_assets(ALL_ASSETS))),
        "national_node": NationalNodeResource(
            url=EnvVar(NODE_URL_ENV), key_id=EnvVar(KEY_ID_ENV), secret=EnvVar(KEY_ENV)
        ),
    }


defs = Definitions(
    assets=ALL_ASSETS,
    asset_checks=[feeds_on_time],
    jobs=[ingest_job, daily_job, catalog_job, sync_job, housekeeping_job],
    schedules=[ingest_schedule, daily_schedule, sync_schedule, housekeeping_schedule],
    sensors=[
        landing_sensor,
        dirty_days_sensor,
        catalog_sensor,
        alert_sensor,
        run_failure_alert,
    ],
    resources=resources(),
)
