"""Telemetry rules: row rules (quarantine reasons), the finished day's partition rules and trends, and bronze's file checks."""

from __future__ import annotations

import polars as pl

from quality.rules.spec import Expectation, PartitionOutcome, Rule
from warehouse.domain import COMPLETE_DAY_SHARE, METRICS
from warehouse.registry import BRONZE_TELEMETRY, ENERGY_DAILY, EQUIPMENT_DAILY, SILVER_TELEMETRY

CANONICAL_UNITS = sorted({m.unit for m in METRICS.values()})


FRESHNESS_DAYS = 2


ROW_COUNT_BAND = 0.5


QUARANTINE_SHARE_LIMIT = 0.05


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
