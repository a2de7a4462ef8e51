"""Production and industry library rules: record rows, OEE ratios, the libraries' cells."""

from __future__ import annotations

import polars as pl

from quality.rules.spec import Expectation, Rule
from warehouse.domain import INDUSTRY_LIBRARIES
from warehouse.registry import (
    INDUSTRY_LIBRARY_TABLES,
    INDUSTRY_MONTHLY,
    PRODUCTION_DAILY,
    PRODUCTION_ENTERPRISE_DAILY,
    SILVER_PRODUCTION,
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
