"""The Dagster code location: assets, checks, jobs, schedules, sensors and resources, merged here."""

from __future__ import annotations

import json
import warnings

from dagster import BetaWarning, Definitions, load_assets_from_modules, with_source_code_references

import assets.catalog.assets as catalog_assets
import assets.energy_report.assets as energy_report_assets
import assets.enterprise.assets as enterprise_assets
import assets.graph.assets as graph_assets
import assets.housekeeping.assets as housekeeping_assets
import assets.identifier.assets as identifier_assets
import assets.industry.assets as industry_assets
import assets.production.assets as production_assets
import assets.sync.assets as sync_assets
import assets.telemetry.assets as telemetry_assets
import assets.theme.assets as theme_assets
import assets.theme.profile_assets as profile_assets
import assets.trading.assets as trading_assets
from assets.resources import LakeResource, LineageResource, WarehouseResource, lineage_from_assets
from assets.sync.assets import NationalNodeResource
from orchestration.alerts import alert_sensor, run_failure_alert
from orchestration.freshness import feeds_on_time
from orchestration.jobs import (
    BUILD_RECORD_ASSETS,
    SYNC_SCHEDULES,
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
)

with warnings.catch_warnings():  # code references are beta in Dagster 1.13: said once here, not per asset
    warnings.simplefilter("ignore", BetaWarning)
    ALL_ASSETS = with_source_code_references(
        [
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
                    identifier_assets,
                    graph_assets,
                    housekeeping_assets,
                ]
            ),
            *BUILD_RECORD_ASSETS,
        ]
    )  # each asset links to its source file and line in the UI


def resources() -> dict:
    """Resources with nothing bound: each resolves the settings (home, warehouse, node, key) when a run
    uses it, so one code location serves whichever home the process points at, and importing it changes
    no environment variable."""
    return {
        "lake": LakeResource(),
        "warehouse": WarehouseResource(),
        "lineage": LineageResource(edges_json=json.dumps(lineage_from_assets(ALL_ASSETS))),
        "national_node": NationalNodeResource(),
    }


defs = Definitions(
    assets=ALL_ASSETS,
    asset_checks=[feeds_on_time],
    jobs=[ingest_job, daily_job, catalog_job, sync_job, housekeeping_job],
    schedules=[ingest_schedule, daily_schedule, *SYNC_SCHEDULES, housekeeping_schedule],
    sensors=[
        landing_sensor,
        dirty_days_sensor,
        catalog_sensor,
        alert_sensor,
        run_failure_alert,
    ],
    resources=resources(),
)
