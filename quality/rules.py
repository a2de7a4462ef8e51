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

from warehouse.domain import METRICS
from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY, SILVER_TELEMETRY

Severity = Literal["error", "warn"]


@dataclass(frozen=True)
class Expectation:
    """A Great Expectations expectation by class name and keyword arguments."""

    type: str
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    id: str
    table: str
    description: str
    severity: Severity = "error"
    row_check: Callable[[], pl.Expr] | None = None  # true where the row passes
    expectation: Expectation | None = None  # on the finished partition


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
        expectation=Expectation("ExpectColumnValuesToBeInSet", {"column": "metric", "value_set": sorted(METRICS)}),
    ),
    Rule(
        "unknown_unit",
        SILVER_TELEMETRY.name,
        "unit is a known unit or unit variant (W/kW/MW, Wh/kWh/MWh, K/℃, Pa/kPa/MPa/bar, kg/t, m3/m³ ...).",
        row_check=lambda: pl.col("unit_canonical").is_not_null(),
        expectation=Expectation("ExpectColumnValuesToBeInSet", {"column": "unit", "value_set": CANONICAL_UNITS}),
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
            "ExpectColumnValuesToBeInSet", {"column": "quality_flag", "value_set": ["good", "uncertain", "bad"]}
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

ALL_RULES: tuple[Rule, ...] = TELEMETRY_ROW_RULES + PARTITION_RULES


def rules_for(table: str) -> list[Rule]:
    return [r for r in ALL_RULES if r.table == table]


def first_failed_rule(rules: tuple[Rule, ...]) -> pl.Expr:
    """Id of the first row rule a row fails, null when it passes all: the quarantine reason."""
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for rule in reversed(rules):
        assert rule.row_check is not None, rule.id
        expr = pl.when(~rule.row_check().fill_null(False)).then(pl.lit(rule.id)).otherwise(expr)
    return expr
