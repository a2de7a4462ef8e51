"""Energy report rules: report rows, unreadable files, and daily sums against the reported months."""

from __future__ import annotations

import polars as pl

from quality.agreement import DISAGREES, NOT_EVALUATED, TOLERANCE
from quality.rules.spec import PartitionOutcome, Rule
from warehouse.registry import ENERGY_REPORT

# Enterprise energy reports (landing/energy_reports) -> silver.energy_report / quarantine.energy_report.
# Columns come from assets.energy_report.reports.prepare_reports.
ENERGY_REPORT_ROW_RULES: tuple[Rule, ...] = (
    Rule(
        "report_malformed_row",
        ENERGY_REPORT.name,
        "The CSV line has as many fields as the header.",
        row_check=lambda: pl.col("malformed").not_(),
    ),
    Rule(
        "report_uscc_invalid",
        ENERGY_REPORT.name,
        "USCC is a valid GB 32100 code (18 characters of the set, organization-code and check characters).",
        row_check=lambda: pl.col("uscc_problem").is_null(),
    ),
    Rule(
        "report_period_invalid",
        ENERGY_REPORT.name,
        "month is YYYY-MM, from_day <= through_day are dates within it, reported_at is a timestamp.",
        row_check=lambda: pl.col("period_ok"),
    ),
    Rule(
        "report_number_invalid",
        ENERGY_REPORT.name,
        "electricity_kwh, natural_gas_m3, coal_t and energy_tce are decimal numbers >= 0 (0 for a carrier not used).",
        row_check=lambda: pl.col("numbers_ok"),
    ),
    Rule(
        "report_superseded",
        ENERGY_REPORT.name,
        "The latest filing per enterprise, month and through_day counts; earlier ones are kept in quarantine.",
        row_check=lambda: pl.col("superseded").not_(),
    ),
)


ENERGY_REPORT_FILE_RULE = Rule(
    "report_file_unreadable",
    ENERGY_REPORT.name,
    "A report file decodes as UTF-8 and carries the contract header (assets/energy_report/reports.py).",
)


def daily_sums_agree_with_monthly(_reports: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Reports whose days are all built: sum of theme.energy_daily within 5% of the reported tce.

    ctx: `agreement`, the per-report comparison (quality.agreement.report_agreement) the asset also
    stores in catalog.energy_report_agreement, so it is computed once.
    """
    agreement = ctx["agreement"]
    evaluated = agreement.filter(pl.col("status") != NOT_EVALUATED)
    failing = evaluated.filter(pl.col("status") == DISAGREES).sort(
        pl.col("deviation").abs(), descending=True, nulls_last=False
    )
    waiting = agreement.height - evaluated.height
    lines = [f"{u} {m}: {n}" for u, m, n in failing.select("uscc", "month", "note").head(5).iter_rows()]
    message = (
        f"{failing.height} of {evaluated.height} evaluated reports disagree with the daily sums by more "
        f"than {TOLERANCE:.0%}"
        + (f"; {waiting} not evaluated (days not built yet)" if waiting else "")
        + (": " + "; ".join(lines) if lines else "")
    )
    sample = failing.select(
        "uscc", "month", "through_day", "reported_tce", "daily_sum_tce", "deviation"
    ).head(10)
    return PartitionOutcome(
        evaluated.height,
        failing.height,
        failing.is_empty(),
        message,
        tuple(sample.with_columns(pl.col("through_day").cast(pl.String)).to_dicts()),
    )


ENERGY_REPORT_RULES: tuple[Rule, ...] = (
    *ENERGY_REPORT_ROW_RULES,
    ENERGY_REPORT_FILE_RULE,
    Rule(
        "daily_sums_agree_with_monthly",
        ENERGY_REPORT.name,
        "The sum of an enterprise's theme.energy_daily over a report's days agrees with the energy (tce) it "
        "reported within 5% (the online energy-monitoring rule); reports whose days are not all built are "
        "not evaluated. Warn, not error: a disagreement is usually the enterprise's own statistics, to be "
        "followed up with it; blocking would withhold the whole province's figures for one enterprise.",
        severity="warn",
        partition_check=daily_sums_agree_with_monthly,
    ),
)
