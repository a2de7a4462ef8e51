"""Energy report asset: enterprises' own monthly figures, compared with the monitored daily sums.

It runs in catalog_job, after the days are built: the comparison needs theme.energy_daily for every day a
report covers, and reports whose days are not built yet are recorded as not evaluated.
"""

import datetime as dt

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, multi_asset

from assets.energy_report.reports import load_reports
from assets.metadata import asset_spec, preview, quarantine_metadata
from assets.reconcile import record, total
from assets.resources import LakeResource
from quality.agreement import AGREES, DISAGREES, NOT_EVALUATED, report_agreement
from quality.checks import checks_for, evaluate
from warehouse.registry import (
    ENERGY_DAILY,
    ENERGY_REPORT,
    ENERGY_REPORT_AGREEMENT,
    QUALITY_RESULTS,
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
    energy, built_days = monitored_energy(store, build.clean)
    agreement = report_agreement(build.clean, energy, built_days)
    versions = [
        store.overwrite(spec, df, run_id=context.run_id)
        for spec, df in (
            (ENERGY_REPORT, build.clean),
            (QUARANTINE_ENERGY_REPORT, build.quarantined),
            (ENERGY_REPORT_AGREEMENT, agreement),
        )
    ]
    record(store, ENERGY_REPORT, build.parts, context.run_id)
    recon = total(build.parts)
    evaluation = evaluate(
        ENERGY_REPORT,
        build.clean,
        partition="current",
        run_id=context.run_id,
        gx_home=lake.settings.gx_home,
        reconciliation=recon,
        row_rule_counts=build.reasons,
        evaluated=recon.landed,
        context={"agreement": agreement},
    )
    store.upsert(QUALITY_RESULTS, evaluation.results, run_id=context.run_id)
    status = dict(agreement.group_by("status").len().iter_rows())
    deviation = agreement["deviation"].abs()
    yield MaterializeResult(
        asset_key=ENERGY_REPORT.asset_key,
        metadata={
            "dagster/row_count": build.clean.height,
            "landed": recon.landed,
            "files": len(build.parts),
            "flash_reports": int((build.clean["report_kind"] == "flash").sum()),
            "energy_tce_reported": float(build.clean["energy_tce"].sum() or 0.0),
            "delta_version": versions[0],
            "preview": preview(build.clean),
        },
        check_results=evaluation.check_results,
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_ENERGY_REPORT.asset_key,
        metadata=quarantine_metadata(build.quarantined, build.reasons, versions[1]),
    )
    yield MaterializeResult(
        asset_key=ENERGY_REPORT_AGREEMENT.asset_key,
        metadata={
            "dagster/row_count": agreement.height,
            **{f"reports/{s}": status.get(s, 0) for s in (AGREES, DISAGREES, NOT_EVALUATED)},
            "max_abs_deviation": float(deviation.max() or 0.0),
            "delta_version": versions[2],
            "disagreeing": preview(
                agreement.filter(pl.col("status") == DISAGREES).sort(
                    pl.col("deviation").abs(), descending=True
                )
            ),
        },
    )
