"""Energy report asset: enterprises' own monthly figures, compared with the monitored daily sums.

It runs in catalog_job, after the days are built: the comparison needs theme.energy_daily for every day a
report covers, and reports whose days are not built yet are recorded as not evaluated.
"""

import datetime as dt

import polars as pl
from dagster import AssetExecutionContext, multi_asset

from assets.energy_report.reports import ReportBuild, load_reports
from assets.gate import gate_partitions
from assets.metadata import asset_spec, materialized, preview, quarantine_metadata
from assets.resources import LakeResource
from assets.writes import overwrite_each
from quality.agreement import AGREES, DISAGREES, NOT_EVALUATED, report_agreement
from quality.checks import Reconciliation, checks_for
from warehouse.registry import (
    ENERGY_DAILY,
    ENERGY_REPORT,
    ENERGY_REPORT_AGREEMENT,
    QUARANTINE_ENERGY_REPORT,
)
from warehouse.storage import Lake


def monitored_energy(store: Lake, reports: pl.DataFrame) -> tuple[pl.DataFrame, list[dt.date]]:
    """theme.energy_daily (day, uscc, energy_tce) over the reports' span, and every built day."""
    built = [dt.date.fromisoformat(str(d)) for d in store.partitions(ENERGY_DAILY)]
    if reports.is_empty():
        return pl.DataFrame(schema={k: ENERGY_DAILY.schema[k] for k in ("day", "uscc", "energy_tce")}), built
    span = pl.col("day").is_between(reports["from_day"].min(), reports["through_day"].max())
    return store.read(ENERGY_DAILY, where=span, columns=["day", "uscc", "energy_tce"]), built


@multi_asset(
    specs=[
        asset_spec(ENERGY_REPORT, deps=[ENERGY_DAILY.asset_key]),
        asset_spec(QUARANTINE_ENERGY_REPORT),
        asset_spec(ENERGY_REPORT_AGREEMENT, deps=[ENERGY_REPORT.asset_key, ENERGY_DAILY.asset_key]),
    ],
    check_specs=checks_for(ENERGY_REPORT, reconciles=True),
    name="energy_report",
)
def energy_report(context: AssetExecutionContext, lake: LakeResource):
    """landing/energy_reports -> silver.energy_report (+ quarantine), then daily sums vs reported energy."""
    store, landing = lake.lake, lake.settings.landing
    build = load_reports(landing / "energy_reports", relative_to=landing)
    agreement = report_agreement(build.clean, *monitored_energy(store, build.clean))
    frames = [(ENERGY_REPORT, build.clean), (QUARANTINE_ENERGY_REPORT, build.quarantined)]
    versions = overwrite_each(store, [*frames, (ENERGY_REPORT_AGREEMENT, agreement)], run_id=context.run_id)
    (evaluation,) = gate_partitions(store, lake.settings, [build.gated(agreement)], run_id=context.run_id)
    yield materialized(ENERGY_REPORT, _reports_metadata(build, versions[0]), evaluation)
    yield materialized(
        QUARANTINE_ENERGY_REPORT, quarantine_metadata(build.quarantined, build.reasons, versions[1])
    )
    yield materialized(ENERGY_REPORT_AGREEMENT, _agreement_metadata(agreement, versions[2]))


def _reports_metadata(build: ReportBuild, version: int) -> dict:
    return {
        "dagster/row_count": build.clean.height,
        "landed": Reconciliation.total(build.parts.values()).landed,
        "files": len(build.parts),
        "flash_reports": int((build.clean["report_kind"] == "flash").sum()),
        "energy_tce_reported": float(build.clean["energy_tce"].sum() or 0.0),
        "delta_version": version,
        "preview": preview(build.clean),
    }


def _agreement_metadata(agreement: pl.DataFrame, version: int) -> dict:
    status = dict(agreement.group_by("status").len().iter_rows())
    disagreeing = agreement.filter(pl.col("status") == DISAGREES)
    return {
        "dagster/row_count": agreement.height,
        **{f"reports/{s}": status.get(s, 0) for s in (AGREES, DISAGREES, NOT_EVALUATED)},
        "max_abs_deviation": float(agreement["deviation"].abs().max() or 0.0),
        "delta_version": version,
        "disagreeing": preview(disagreeing.sort(pl.col("deviation").abs(), descending=True)),
    }
