"""Quality rules, declared once.

A rule has an id (which is also the quarantine reason code), the table it guards, a severity and a
description. A row rule carries a polars expression that is true for rows that pass: failing rows go
to the table's quarantine with the rule id as reason. Where the rule also says something checkable
about the finished partition, it carries an `expectation` (Great Expectations type and kwargs) that the
table's GX suite validates on every materialized partition, so no rule is written twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from quality.agreement import DISAGREES, NOT_EVALUATED, TOLERANCE
from warehouse.domain import (
    CITIES,
    COMPLETE_DAY_SHARE,
    EQUIPMENT_TYPES,
    INDUSTRIES,
    INDUSTRY_LIBRARIES,
    METRICS,
)
from warehouse.identifiers import HANDLE_PATTERN, STATUSES, TYPE_CODES
from warehouse.registry import (
    BRONZE_TELEMETRY,
    DCMM_ASSESSMENT,
    ENERGY_DAILY,
    ENERGY_REPORT,
    ENTERPRISE,
    EQUIPMENT,
    EQUIPMENT_DAILY,
    GRAPH_EDGE,
    GRAPH_EDGE_TYPES,
    GRAPH_NODE,
    GRAPH_NODE_TYPES,
    IDENTIFIER,
    INDUSTRY_LIBRARY_TABLES,
    INDUSTRY_MONTHLY,
    PRODUCTION_DAILY,
    PRODUCTION_ENTERPRISE_DAILY,
    SILVER_PRODUCTION,
    SILVER_TELEMETRY,
    TRADE,
)

Severity = Literal["error", "warn"]


@dataclass(frozen=True)
class Expectation:
    """A Great Expectations expectation by class name and keyword arguments."""

    type: str
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionOutcome:
    evaluated: int
    failed: int
    passed: bool
    message: str
    sample: tuple[dict, ...] = ()  # a few failing rows, shown with the check result


@dataclass(frozen=True)
class Rule:
    id: str
    table: str
    description: str
    severity: Severity = "error"
    row_check: Callable[[], pl.Expr] | None = None  # true where the row passes
    expectation: Expectation | None = None  # GX expectation on the finished partition
    # A whole-partition rule that GX cannot express: (partition frame, context frames) -> outcome.
    partition_check: Callable[[pl.DataFrame, dict], PartitionOutcome] | None = None


CANONICAL_UNITS = sorted({m.unit for m in METRICS.values()})

# Order matters for row rules: a record is quarantined under the first rule it fails.
TELEMETRY_ROW_RULES: tuple[Rule, ...] = (
    Rule(
        "malformed_record",
        SILVER_TELEMETRY.name,
        "The landing line could be split into the six contract fields (uscc, equipment_id, metric, ts, value, unit).",
        row_check=lambda: pl.col("raw_line").is_null(),
    ),
    Rule(
        "bad_timestamp",
        SILVER_TELEMETRY.name,
        "ts parses as ISO 8601 with an offset, or as local Asia/Shanghai time without one.",
        row_check=lambda: pl.col("ts_utc").is_not_null(),
        expectation=Expectation("ExpectColumnValuesToNotBeNull", {"column": "ts_utc"}),
    ),
    Rule(
        "late_beyond_watermark",
        SILVER_TELEMETRY.name,
        "The reading landed no more than the watermark (default 7 days) after its local day.",
        row_check=lambda: pl.col("lag_days") <= pl.col("watermark_days"),
    ),
    Rule(
        "future_timestamp",
        SILVER_TELEMETRY.name,
        "The reading is not stamped beyond its ingest time plus the tolerance (default 60 minutes): a "
        "gateway clock running ahead. Built in the day of its batch, like a late record.",
        row_check=lambda: (pl.col("ts_utc") <= pl.col("future_limit")) | pl.col("future_limit").is_null(),
    ),
    Rule(
        "unknown_equipment",
        SILVER_TELEMETRY.name,
        "equipment_id is in the equipment master data.",
        row_check=lambda: pl.col("master_uscc").is_not_null(),
        expectation=Expectation("ExpectColumnValuesToNotBeNull", {"column": "uscc"}),
    ),
    Rule(
        "equipment_uscc_mismatch",
        SILVER_TELEMETRY.name,
        "The landed uscc is the one the equipment master data gives for the equipment.",
        row_check=lambda: pl.col("uscc").str.strip_chars() == pl.col("master_uscc"),
    ),
    Rule(
        "unknown_metric",
        SILVER_TELEMETRY.name,
        "metric is one the center collects (warehouse.domain.METRICS).",
        row_check=lambda: pl.col("metric_unit").is_not_null(),
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "metric", "value_set": sorted(METRICS)}
        ),
    ),
    Rule(
        "unknown_unit",
        SILVER_TELEMETRY.name,
        "unit is a known unit or unit variant (W/kW/MW, Wh/kWh/MWh, K/℃, Pa/kPa/MPa/bar, kg/t, m3/m³ ...).",
        row_check=lambda: pl.col("unit_canonical").is_not_null(),
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "unit", "value_set": CANONICAL_UNITS}
        ),
    ),
    Rule(
        "unit_mismatch",
        SILVER_TELEMETRY.name,
        "unit converts to the metric's canonical unit (no kWh for a power reading).",
        row_check=lambda: pl.col("unit_canonical") == pl.col("metric_unit"),
    ),
    Rule(
        "value_missing",
        SILVER_TELEMETRY.name,
        "value is present and not NaN.",
        row_check=lambda: pl.col("value_present"),
        expectation=Expectation("ExpectColumnValuesToNotBeNull", {"column": "value"}),
    ),
    Rule(
        "bad_value",
        SILVER_TELEMETRY.name,
        "value is a decimal number.",
        row_check=lambda: pl.col("value_num").is_not_null(),
    ),
)

# Partition-level rules on finished tables (GX only).
PARTITION_RULES: tuple[Rule, ...] = (
    Rule(
        "quality_flag_known",
        SILVER_TELEMETRY.name,
        "Every reading carries a quality flag good, uncertain or bad.",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet",
            {"column": "quality_flag", "value_set": ["good", "uncertain", "bad"]},
        ),
    ),
    Rule(
        "reading_key_unique",
        SILVER_TELEMETRY.name,
        "One reading per equipment, metric and timestamp after deduplication.",
        expectation=Expectation(
            "ExpectCompoundColumnsToBeUnique", {"column_list": ["equipment_id", "metric", "ts_utc"]}
        ),
    ),
    Rule(
        "energy_non_negative",
        ENERGY_DAILY.name,
        "Consumption from cumulative meters is never negative (resets and rollovers handled).",
        expectation=Expectation("ExpectColumnValuesToBeBetween", {"column": "energy_tce", "min_value": 0}),
    ),
    Rule(
        "completeness_in_range",
        ENERGY_DAILY.name,
        "Completeness is a percentage.",
        expectation=Expectation(
            "ExpectColumnValuesToBeBetween", {"column": "completeness_pct", "min_value": 0, "max_value": 100}
        ),
    ),
    Rule(
        "energy_row_per_equipment",
        ENERGY_DAILY.name,
        "One row per equipment and day.",
        expectation=Expectation("ExpectColumnValuesToBeUnique", {"column": "equipment_id"}),
    ),
    Rule(
        "availability_in_range",
        EQUIPMENT_DAILY.name,
        "Availability is a percentage.",
        expectation=Expectation(
            "ExpectColumnValuesToBeBetween",
            {"column": "availability_pct", "min_value": 0, "max_value": 100, "mostly": 1.0},
        ),
    ),
    Rule(
        "running_hours_within_day",
        EQUIPMENT_DAILY.name,
        "Running and fault hours fit in a day.",
        expectation=Expectation(
            "ExpectColumnValuesToBeBetween", {"column": "running_hours", "min_value": 0, "max_value": 24}
        ),
    ),
)


def day_completeness(energy: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """National energy-monitoring rule: a day is complete when >= 90% of expected readings arrived."""
    expected = int(energy["readings_expected"].sum() or 0)
    received = min(int(energy["readings_received"].sum() or 0), expected)
    share = received / expected if expected else 0.0
    if ctx.get("day_in_progress"):
        return PartitionOutcome(
            expected, 0, True, f"day still in progress: {share:.1%} of expected readings so far"
        )
    return PartitionOutcome(
        expected,
        expected - received,
        share >= COMPLETE_DAY_SHARE,
        f"{received:,} of {expected:,} expected readings ({share:.1%}; complete at {COMPLETE_DAY_SHARE:.0%})"
        if expected
        else "no readings expected: no equipment reported this day",
    )


def row_count_in_band(df: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Row count within +-50% of the trailing 7-day median (skipped with fewer than 3 earlier days)."""
    history = [n for n in ctx.get("trailing_row_counts", []) if n is not None][-7:]
    rows = int(ctx.get("rows", df.height))  # a sharded build passes the day's count, not all its rows
    if len(history) < 3:
        return PartitionOutcome(
            rows, 0, True, f"{rows:,} rows; only {len(history)} earlier day(s) to compare"
        )
    median = sorted(history)[len(history) // 2]
    low, high = median * (1 - ROW_COUNT_BAND), median * (1 + ROW_COUNT_BAND)
    ok = low <= rows <= high
    return PartitionOutcome(
        rows,
        0 if ok else 1,
        ok,
        f"{rows:,} rows vs trailing median {median:,} (band {low:,.0f}-{high:,.0f})",
    )


def enterprises_known(df: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Cross-table: every enterprise sending telemetry exists in silver.enterprise."""
    known = set(ctx["enterprises"]["uscc"].to_list()) if "enterprises" in ctx else set()
    sending = set(df["uscc"].drop_nulls().unique().to_list())
    unknown = sorted(sending - known)
    return PartitionOutcome(
        len(sending),
        len(unknown),
        not unknown,
        f"{len(unknown)} of {len(sending)} enterprises unknown: {unknown[:5]}",
    )


def quarantine_share_within_limit(df: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """A day whose landed records are mostly unusable must not feed the themes or the national sync.

    Records routed by arrival rather than by reading (late beyond the watermark, stamped in the future,
    unparseable lines or timestamps, which go to their batch day) say nothing about the day's data and
    are left out.
    """
    reasons = dict(ctx.get("quarantine_reasons", {}))
    routed_by_arrival = sum(
        reasons.pop(r, 0)
        for r in ("late_beyond_watermark", "future_timestamp", "malformed_record", "bad_timestamp")
    )
    landed = int(ctx.get("landed", df.height)) - routed_by_arrival
    bad = sum(reasons.values())
    share = bad / landed if landed else 0.0
    return PartitionOutcome(
        landed,
        bad,
        share <= QUARANTINE_SHARE_LIMIT,
        f"{bad:,} of {landed:,} records quarantined ({share:.2%}; limit {QUARANTINE_SHARE_LIMIT:.0%})",
    )


def landing_fresh(files: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Freshness: the newest ingested landing file is at most FRESHNESS_DAYS old (local dates)."""
    ingested = files.filter(pl.col("status") == "ingested")
    if ingested.is_empty():
        return PartitionOutcome(
            0, 1, False, "no landing file has ever been ingested: is any gateway sending?"
        )
    newest = ingested["landing_date"].max()
    age = (ctx["today"] - newest).days
    return PartitionOutcome(
        1,
        int(age > FRESHNESS_DAYS),
        age <= FRESHNESS_DAYS,
        f"newest landing file is from {newest} ({age} day(s) old; limit {FRESHNESS_DAYS})",
    )


def no_schema_drift(files: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Schema drift in the files of this ingest: extra columns (ignored) or missing ones (file rejected)."""
    new = files.filter(pl.col("ingest_run_id") == ctx["run_id"])
    drift = new.filter(
        pl.col("reason").str.contains("extra_columns") | (pl.col("reason") == "missing_columns")
    )
    names = [f"{f}: {r}" for f, r in drift.select("source_file", "reason").head(5).iter_rows()]
    return PartitionOutcome(
        new.height,
        drift.height,
        drift.is_empty(),
        f"{drift.height} of {new.height} new files drift from the landing contract"
        + (": " + "; ".join(names) if names else ""),
    )


def files_readable(files: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Every new landing file could be parsed; rejected ones are in landing/rejected/ with a reason."""
    new = files.filter(pl.col("ingest_run_id") == ctx["run_id"])
    rejected = new.filter(pl.col("status") == "rejected")
    names = [f"{f} ({r})" for f, r in rejected.select("source_file", "reason").head(5).iter_rows()]
    return PartitionOutcome(
        new.height,
        rejected.height,
        rejected.is_empty(),
        f"{rejected.height} of {new.height} new files rejected" + (": " + "; ".join(names) if names else ""),
    )


FRESHNESS_DAYS = 2
ROW_COUNT_BAND = 0.5
QUARANTINE_SHARE_LIMIT = 0.05
TREND_RULES: tuple[Rule, ...] = (
    Rule(
        "landing_fresh",
        BRONZE_TELEMETRY.name,
        "The newest landing file is at most 2 days old.",
        severity="warn",
        partition_check=landing_fresh,
    ),
    Rule(
        "no_schema_drift",
        BRONZE_TELEMETRY.name,
        "New landing files carry exactly the contract's columns (uscc, equipment_id, metric, ts, value, unit).",
        severity="warn",
        partition_check=no_schema_drift,
    ),
    Rule(
        "files_readable",
        BRONZE_TELEMETRY.name,
        "Every new landing file can be parsed.",
        severity="warn",
        partition_check=files_readable,
    ),
    Rule(
        "quarantine_share_within_limit",
        SILVER_TELEMETRY.name,
        "At most 5% of the day's landed records (late arrivals aside) are quarantined.",
        severity="error",
        partition_check=quarantine_share_within_limit,
    ),
    Rule(
        "day_complete",
        ENERGY_DAILY.name,
        "A day is complete when >= 90% of the expected readings (equipment x metric x 96) arrived.",
        severity="error",
        partition_check=day_completeness,
    ),
    Rule(
        "row_count_in_band",
        SILVER_TELEMETRY.name,
        "The day's row count is within +-50% of the trailing 7-day median.",
        severity="warn",
        partition_check=row_count_in_band,
    ),
    Rule(
        "enterprises_known",
        SILVER_TELEMETRY.name,
        "Every enterprise sending telemetry exists in the enterprise master data.",
        severity="warn",
        partition_check=enterprises_known,
    ),
)

MASTER_RULES: tuple[Rule, ...] = (
    Rule(
        "uscc_unique",
        ENTERPRISE.name,
        "One current row per enterprise (USCC) in the golden record.",
        expectation=Expectation("ExpectColumnValuesToBeUnique", {"column": "uscc"}),
    ),
    Rule(
        "uscc_format",
        ENTERPRISE.name,
        "USCC is 18 characters of the GB 32100 character set.",
        expectation=Expectation(
            "ExpectColumnValuesToMatchRegex", {"column": "uscc", "regex": "^[0-9A-HJ-NPQRTUWXY]{18}$"}
        ),
    ),
    Rule(
        "city_in_shandong",
        ENTERPRISE.name,
        "City is one of Shandong's 16 prefectures (GB/T 2260).",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "city_code", "value_set": sorted(CITIES)}
        ),
    ),
    Rule(
        "industry_known",
        ENTERPRISE.name,
        "Industry is a GB/T 4754-2017 division the center tracks.",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "industry_code", "value_set": sorted(INDUSTRIES)}
        ),
    ),
    Rule(
        "equipment_id_unique",
        EQUIPMENT.name,
        "One row per equipment id.",
        expectation=Expectation("ExpectColumnValuesToBeUnique", {"column": "equipment_id"}),
    ),
    Rule(
        "equipment_type_known",
        EQUIPMENT.name,
        "Equipment type is one the center connects.",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "equipment_type", "value_set": sorted(EQUIPMENT_TYPES)}
        ),
    ),
)


def _uscc_is_not(problem: str) -> Callable[[], pl.Expr]:
    return _problem_is_not("uscc_problem", problem)


def _id_is_not(problem: str) -> Callable[[], pl.Expr]:
    return _problem_is_not("id_problem", problem)


def _problem_is_not(column: str, problem: str) -> Callable[[], pl.Expr]:
    return lambda: pl.col(column).is_null() | (pl.col(column) != problem)


# Register rows (market regulation export) -> quarantine.enterprise; first failing rule is the reason.
# Columns come from assets.enterprise.sources.prepare_register: uscc_problem (warehouse.codes.uscc_problem),
# city_code (warehouse.codes.shandong_city: a real Shandong division, Laiwu 3712 -> 3701), industry_code,
# established_date (mixed formats parsed), id_problem (warehouse.codes.resident_id_problem; null when the
# export carries no ID number).
REGISTER_ROW_RULES: tuple[Rule, ...] = (
    Rule(
        "malformed_row",
        ENTERPRISE.name,
        "The CSV line has as many fields as the header.",
        row_check=lambda: pl.col("malformed").not_(),
    ),
    Rule(
        "uscc_length",
        ENTERPRISE.name,
        "USCC has 18 characters (GB 32100).",
        row_check=_uscc_is_not("uscc_length"),
    ),
    Rule(
        "uscc_charset",
        ENTERPRISE.name,
        "USCC uses the 31-character set (no I, O, S, V, Z).",
        row_check=_uscc_is_not("uscc_charset"),
    ),
    Rule(
        "uscc_authority",
        ENTERPRISE.name,
        "The 1st character is a GB 32100 registration-authority code (1-9, A, N, Y).",
        row_check=_uscc_is_not("uscc_authority"),
    ),
    Rule(
        "uscc_institution_type",
        ENTERPRISE.name,
        "The 2nd character is an institution type that authority assigns (GB 32100 Appendix A; 9: 1, 2, 3).",
        row_check=_uscc_is_not("uscc_institution_type"),
    ),
    Rule(
        "uscc_division",
        ENTERPRISE.name,
        "Characters 3-8 are a GB/T 2260 division, current or historical (or 100000, a national authority).",
        row_check=_uscc_is_not("uscc_division"),
    ),
    Rule(
        "uscc_org_code_check",
        ENTERPRISE.name,
        "The embedded 9-character organization code carries its own GB 11714 check character.",
        row_check=_uscc_is_not("uscc_org_code_check"),
    ),
    Rule(
        "uscc_check_char",
        ENTERPRISE.name,
        "The 18th character is the GB 32100 check character.",
        row_check=_uscc_is_not("uscc_check_char"),
    ),
    Rule(
        "region_invalid",
        ENTERPRISE.name,
        "Region code is a Shandong division, current or historical (GB/T 2260; pre-2019 Laiwu 3712xx is valid "
        "and maps to Jinan 3701).",
        row_check=lambda: pl.col("city_code").is_not_null(),
    ),
    Rule(
        "industry_invalid",
        ENTERPRISE.name,
        "Industry is a GB/T 4754-2017 division the center tracks.",
        row_check=lambda: pl.col("industry_code").is_in(sorted(INDUSTRIES)),
    ),
    Rule(
        "date_invalid",
        ENTERPRISE.name,
        "Established date parses (2020/1/5, 2020-01-05, 20200105 or an Excel serial) and is not in the future.",
        row_check=lambda: pl.col("established_date").is_not_null(),
    ),
    Rule(
        "id_format",
        ENTERPRISE.name,
        "The legal representative's ID number, when given, is 18 characters: 17 digits (division, birth date, "
        "three sequence digits) and a digit or X (GB 11643).",
        row_check=_id_is_not("id_format"),
    ),
    Rule(
        "id_region",
        ENTERPRISE.name,
        "The ID's first six digits are a GB/T 2260 division, current or historical (never judged by the birth "
        "year: IDs carry the code current when they were issued).",
        row_check=_id_is_not("id_region"),
    ),
    Rule(
        "id_birth_date",
        ENTERPRISE.name,
        "The ID's birth date is a real date between 1900-01-01 and today.",
        row_check=_id_is_not("id_birth_date"),
    ),
    Rule(
        "id_check_char",
        ENTERPRISE.name,
        "The ID's 18th character is the GB 11643 (ISO 7064 MOD 11-2) check character.",
        row_check=_id_is_not("id_check_char"),
    ),
)

# Roster rows (industry department's key-enterprise workbook).
ROSTER_ROW_RULES: tuple[Rule, ...] = (
    Rule(
        "roster_unmatched",
        ENTERPRISE.name,
        "A roster row matches a golden-record enterprise by valid USCC, else by normalized name and city.",
        row_check=lambda: pl.col("matched_uscc").is_not_null(),
    ),
    Rule(
        "assessment_date_invalid",
        ENTERPRISE.name,
        "A DCMM assessment carries a parseable date.",
        row_check=lambda: pl.col("dcmm_level").is_null() | pl.col("assessed_on").is_not_null(),
    ),
    Rule(
        "dcmm_level_invalid",
        ENTERPRISE.name,
        "A DCMM level is 1-5 (GB/T 36073).",
        row_check=lambda: pl.col("dcmm_level").is_null() | pl.col("dcmm_level").is_between(1, 5),
    ),
)

# Whole files that cannot be read: one quarantine row (line 0) each, so nothing is lost silently.
FILE_RULES: tuple[Rule, ...] = (
    Rule("file_empty", ENTERPRISE.name, "A landing file holds at least a header and one record."),
    Rule("file_undecodable", ENTERPRISE.name, "A CSV decodes as UTF-8 or GB18030."),
    Rule("file_unreadable", ENTERPRISE.name, "A workbook opens as .xlsx."),
    Rule(
        "header_missing",
        ENTERPRISE.name,
        "The required header is found (any sheet, any of the first 20 rows of a workbook; line 1 of a CSV).",
    ),
)

# Register first, then circulate (先登记再流通): a trade of a product must find it registered, before
# the trade, not revoked or expired at the trade, and not of grade 3.
TRADE_ROW_RULES: tuple[Rule, ...] = (
    Rule(
        "trade_malformed",
        TRADE.name,
        "The trade carries ids, an amount and an execution time with offset.",
        row_check=lambda: pl.col("executed_at").is_not_null() & pl.col("amount_cny").is_not_null(),
    ),
    Rule(
        "product_not_registered",
        TRADE.name,
        "The product exists and holds a registration certificate.",
        row_check=lambda: pl.col("registration_no").is_not_null(),
    ),
    Rule(
        "registered_after_trade",
        TRADE.name,
        "The product was registered before the trade.",
        row_check=lambda: pl.col("registered_at") <= pl.col("executed_at"),
    ),
    Rule(
        "product_revoked",
        TRADE.name,
        "The registration was not revoked at the trade.",
        row_check=lambda: pl.col("revoked_at").is_null() | (pl.col("revoked_at") > pl.col("executed_at")),
    ),
    Rule(
        "product_expired",
        TRADE.name,
        "The registration had not expired at the trade.",
        row_check=lambda: pl.col("expired_at").is_null() | (pl.col("expired_at") > pl.col("executed_at")),
    ),
    Rule(
        "grade_3_not_tradable",
        TRADE.name,
        "Grade-3 (core) data never circulates.",
        row_check=lambda: pl.col("grade") < 3,
    ),
)

TRADE_TABLE_RULES: tuple[Rule, ...] = (
    Rule(
        "trade_id_unique",
        TRADE.name,
        "One row per trade id.",
        expectation=Expectation("ExpectColumnValuesToBeUnique", {"column": "trade_id"}),
    ),
    Rule(
        "trade_amount_positive",
        TRADE.name,
        "Trade amounts are positive.",
        expectation=Expectation("ExpectColumnValuesToBeBetween", {"column": "amount_cny", "min_value": 0}),
    ),
    Rule(
        "dcmm_level_in_range",
        DCMM_ASSESSMENT.name,
        "DCMM levels are 1-5.",
        expectation=Expectation(
            "ExpectColumnValuesToBeBetween", {"column": "level", "min_value": 1, "max_value": 5}
        ),
    ),
)

# ---- Production (OEE) and industry topic libraries ----------------------------------------------
# Production records (landing/production) -> quarantine.production; first failing rule is the reason.
# Columns come from assets.production.records.prepare_production: fields_ok (every figure parses),
# master_uscc (the line's enterprise in silver.equipment), key_count (records per line and day).
PRODUCTION_ROW_RULES: tuple[Rule, ...] = (
    Rule(
        "production_malformed",
        SILVER_PRODUCTION.name,
        "The record carries a line, an enterprise, a day and every figure as a number.",
        row_check=lambda: pl.col("fields_ok"),
    ),
    Rule(
        "unknown_line",
        SILVER_PRODUCTION.name,
        "line_id is a production line of the equipment master data (ISA-95).",
        row_check=lambda: pl.col("master_uscc").is_not_null(),
    ),
    Rule(
        "line_uscc_mismatch",
        SILVER_PRODUCTION.name,
        "The enterprise is the one the master data gives for the line.",
        row_check=lambda: pl.col("uscc") == pl.col("master_uscc"),
    ),
    Rule(
        "run_exceeds_planned",
        SILVER_PRODUCTION.name,
        "Run time fits in the planned time, and planned time in a day (availability <= 100%).",
        row_check=lambda: (
            (pl.col("run_minutes") <= pl.col("planned_minutes"))
            & pl.col("planned_minutes").is_between(0, 1440)
            & (pl.col("run_minutes") >= 0)
        ),
        expectation=Expectation(
            "ExpectColumnValuesToBeBetween", {"column": "planned_minutes", "min_value": 0, "max_value": 1440}
        ),
    ),
    Rule(
        "good_exceeds_total",
        SILVER_PRODUCTION.name,
        "Good units do not exceed total units (quality <= 100%).",
        row_check=lambda: pl.col("good_units").is_between(0, pl.col("total_units")),
    ),
    Rule(
        "speed_above_ideal",
        SILVER_PRODUCTION.name,
        "Ideal cycle time x total units fits in the run time (performance <= 100%).",
        row_check=lambda: (
            (pl.col("ideal_cycle_s") * pl.col("total_units") <= pl.col("run_minutes") * 60)
            & (pl.col("ideal_cycle_s") > 0)
        ),
    ),
    Rule(
        "duplicate_line_day",
        SILVER_PRODUCTION.name,
        "One record per line and day once exact duplicates are dropped (conflicting records are not guessed).",
        row_check=lambda: pl.col("key_count") == 1,
        expectation=Expectation("ExpectCompoundColumnsToBeUnique", {"column_list": ["line_id", "day"]}),
    ),
)


def _ratio_in_range(table: str, column: str) -> Rule:
    return Rule(
        f"{column}_in_range",
        table,
        f"{column} is a share within [0, 1] (its components pass the production row rules).",
        expectation=Expectation(
            "ExpectColumnValuesToBeBetween", {"column": column, "min_value": 0, "max_value": 1}
        ),
    )


PRODUCTION_TABLE_RULES: tuple[Rule, ...] = (
    _ratio_in_range(PRODUCTION_DAILY.name, "oee"),
    _ratio_in_range(PRODUCTION_ENTERPRISE_DAILY.name, "oee"),
    Rule(
        "energy_intensity_non_negative",
        PRODUCTION_ENTERPRISE_DAILY.name,
        "Energy intensity is never negative.",
        expectation=Expectation(
            "ExpectColumnValuesToBeBetween", {"column": "energy_intensity", "min_value": 0}
        ),
    ),
)

INDUSTRY_RULES: tuple[Rule, ...] = tuple(
    rule
    for spec in (*INDUSTRY_LIBRARY_TABLES.values(), INDUSTRY_MONTHLY)
    for rule in (
        Rule(
            "industry_in_library",
            spec.name,
            "Every division belongs to its topic library (warehouse.domain.INDUSTRY_LIBRARIES).",
            expectation=Expectation(
                "ExpectColumnValuesToBeInSet",
                {
                    "column": "industry_code",
                    "value_set": sorted(
                        INDUSTRY_LIBRARIES.get(spec.short_name)
                        or {c for codes in INDUSTRY_LIBRARIES.values() for c in codes}
                    ),
                },
            ),
        ),
        Rule(
            "library_completeness_in_range",
            spec.name,
            "Completeness is a percentage.",
            expectation=Expectation(
                "ExpectColumnValuesToBeBetween",
                {"column": "completeness_pct", "min_value": 0, "max_value": 100},
            ),
        ),
        _ratio_in_range(spec.name, "oee"),
    )
)


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


def handles_kept(identifiers: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Every handle issued before is still there, naming the same object since the same instant.

    ctx: `previous`, silver.identifier as it was before this build.
    """
    previous = ctx["previous"]
    joined = previous.join(identifiers, on="handle", how="left", suffix="_now")
    lost = joined.filter(
        pl.col("object_type_now").is_null()
        | (pl.col("object_type_now") != pl.col("object_type"))
        | (pl.col("object_key_now") != pl.col("object_key"))
        | (pl.col("issued_at_now") != pl.col("issued_at"))
    )
    sample = lost.select("handle", "object_type", "object_key", "object_key_now").head(10)
    return PartitionOutcome(
        previous.height,
        lost.height,
        lost.is_empty(),
        f"{lost.height} of {previous.height} handles issued earlier were dropped or changed",
        tuple(sample.to_dicts()),
    )


def edge_endpoints_are_nodes(edges: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Both ends of every edge are nodes of graph.node (ctx: `nodes`)."""
    ids = ctx["nodes"]["node_id"].implode()
    dangling = edges.filter(~pl.col("src").is_in(ids) | ~pl.col("dst").is_in(ids))
    return PartitionOutcome(
        edges.height,
        dangling.height,
        dangling.is_empty(),
        f"{dangling.height} of {edges.height} edges end outside graph.node",
        tuple(dangling.select("edge_type", "src", "dst").head(10).to_dicts()),
    )


def edge_validity_ordered(edges: pl.DataFrame, _ctx: dict) -> PartitionOutcome:
    bad = edges.filter(pl.col("valid_to") < pl.col("valid_from"))
    return PartitionOutcome(
        edges.height,
        bad.height,
        bad.is_empty(),
        f"{bad.height} of {edges.height} edges end before they start",
        tuple(bad.select("edge_type", "src", "dst", "source_key").head(10).to_dicts()),
    )


IDENTIFIER_RULES: tuple[Rule, ...] = (
    Rule(
        "handle_well_formed",
        IDENTIFIER.name,
        "Every handle is 88.<secondary node>.<enterprise USCC>/<type>.<key> (warehouse/identifiers.py).",
        expectation=Expectation(
            "ExpectColumnValuesToMatchRegex", {"column": "handle", "regex": HANDLE_PATTERN}
        ),
    ),
    Rule(
        "handle_unique",
        IDENTIFIER.name,
        "A handle names one object.",
        expectation=Expectation("ExpectColumnValuesToBeUnique", {"column": "handle"}),
    ),
    Rule(
        "object_identified_once",
        IDENTIFIER.name,
        "An object has one handle.",
        expectation=Expectation(
            "ExpectCompoundColumnsToBeUnique", {"column_list": ["object_type", "object_key"]}
        ),
    ),
    Rule(
        "identifier_status_known",
        IDENTIFIER.name,
        "Status is active or revoked.",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "status", "value_set": list(STATUSES)}
        ),
    ),
    Rule(
        "identifier_type_known",
        IDENTIFIER.name,
        "The object type is one the resolver knows (enterprise, equipment, line, data_product).",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "object_type", "value_set": sorted(TYPE_CODES)}
        ),
    ),
    Rule(
        "handles_kept",
        IDENTIFIER.name,
        "Handles are issued once and kept: every handle issued earlier still names the same object with the "
        "same issued_at (a rebuild never changes or reissues one).",
        partition_check=handles_kept,
    ),
)

GRAPH_RULES: tuple[Rule, ...] = (
    Rule(
        "node_unique",
        GRAPH_NODE.name,
        "One row per node.",
        expectation=Expectation("ExpectColumnValuesToBeUnique", {"column": "node_id"}),
    ),
    Rule(
        "node_type_known",
        GRAPH_NODE.name,
        "Node types are the graph's eight kinds.",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "node_type", "value_set": list(GRAPH_NODE_TYPES)}
        ),
    ),
    Rule(
        "edge_type_known",
        GRAPH_EDGE.name,
        "Edge types are the graph's seven relations.",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "edge_type", "value_set": list(GRAPH_EDGE_TYPES)}
        ),
    ),
    Rule(
        "edge_has_provenance",
        GRAPH_EDGE.name,
        "Every edge names the table and the row key it was read from.",
        expectation=Expectation("ExpectColumnValuesToNotBeNull", {"column": "source_key"}),
    ),
    Rule(
        "edge_validity_ordered",
        GRAPH_EDGE.name,
        "An edge's validity period does not end before it starts.",
        partition_check=edge_validity_ordered,
    ),
    Rule(
        "edge_endpoints_are_nodes",
        GRAPH_EDGE.name,
        "Both ends of every edge are nodes (no dangling edge).",
        partition_check=edge_endpoints_are_nodes,
    ),
)

ALL_RULES: tuple[Rule, ...] = (
    TELEMETRY_ROW_RULES
    + PARTITION_RULES
    + TREND_RULES
    + MASTER_RULES
    + REGISTER_ROW_RULES
    + ROSTER_ROW_RULES
    + FILE_RULES
    + TRADE_ROW_RULES
    + TRADE_TABLE_RULES
    + PRODUCTION_ROW_RULES
    + PRODUCTION_TABLE_RULES
    + INDUSTRY_RULES
    + ENERGY_REPORT_RULES
    + IDENTIFIER_RULES
    + GRAPH_RULES
)


def rules_for(table: str) -> list[Rule]:
    return [r for r in ALL_RULES if r.table == table]


def first_failed_rule(rules: tuple[Rule, ...]) -> pl.Expr:
    """Id of the first row rule a row fails, null when it passes all: the quarantine reason."""
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for rule in reversed(rules):
        assert rule.row_check is not None, rule.id
        expr = pl.when(~rule.row_check().fill_null(False)).then(pl.lit(rule.id)).otherwise(expr)
    return expr
