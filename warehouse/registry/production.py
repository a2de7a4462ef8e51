"""Production records and OEE per line and enterprise."""

from __future__ import annotations

import polars as pl

from warehouse.registry.spec import TableSpec, cols

_PRODUCTION_FIGURES = (
    ("planned_minutes", pl.Float64, "Planned production time, minutes"),
    ("run_minutes", pl.Float64, "Run time, minutes (planned minus stops)"),
    ("ideal_run_minutes", pl.Float64, "Ideal cycle time x total units / 60: run time at ideal speed"),
    ("total_units", pl.Float64, "Units produced, in the line's unit of output"),
    ("good_units", pl.Float64, "Units right first time"),
)


_OEE_COLS = (
    ("availability", pl.Float64, "Run / planned time (sums of the components, never a mean of ratios)"),
    ("performance", pl.Float64, "Ideal run time / run time"),
    ("quality", pl.Float64, "Good / total units"),
    ("oee", pl.Float64, "Availability x performance x quality"),
)


SILVER_PRODUCTION = TableSpec(
    name="silver.production",
    description="Production records per line and local day from the plants' MES exports, typed and deduplicated.",
    domain="production",
    grade=2,
    owner="data-engineering",
    partition_by="day",
    key=("line_id", "day"),
    columns=cols(
        ("day", pl.Date, "Local day (Asia/Shanghai) of production"),
        ("line_id", pl.String, "ISA-95 production line"),
        ("uscc", pl.String, "Enterprise"),
        ("planned_minutes", pl.Float64, "Planned production time, minutes"),
        ("run_minutes", pl.Float64, "Run time, minutes"),
        ("ideal_cycle_s", pl.Float64, "Ideal cycle time, seconds per unit"),
        ("total_units", pl.Float64, "Units produced"),
        ("good_units", pl.Float64, "Good units"),
        ("product", pl.String, "Product"),
        ("unit", pl.String, "Unit of output (t, pcs ...)"),
        ("source_file", pl.String, "Landing file, relative to landing/"),
        ("line_no", pl.Int64, "CSV line (header = 1)"),
    ),
)


QUARANTINE_PRODUCTION = TableSpec(
    name="quarantine.production",
    description="Production records that cannot be used, with the rule that rejected them and the payload.",
    domain="production",
    grade=2,
    owner="data-engineering",
    partition_by="day",
    key=("source_file", "line_no"),
    columns=cols(
        ("day", pl.Date, "Day the record was routed to"),
        ("reason", pl.String, "Reason code = id of the quality rule that failed"),
        ("source_file", pl.String, "Landing file, relative to landing/"),
        ("line_no", pl.Int64, "CSV line (header = 1)"),
        ("payload", pl.String, "Original record as JSON"),
        ("quarantined_run_id", pl.String, "Run that built the day"),
    ),
)


PRODUCTION_DAILY = TableSpec(
    name="theme.production_daily",
    description="OEE per production line x local day: availability x performance x quality, with its components.",
    domain="production",
    grade=2,
    owner="production-theme",
    partition_by="day",
    key=("day", "line_id"),
    cluster_by=("city_code", "industry_code"),
    month_files=True,
    columns=cols(
        ("day", pl.Date, "Local day"),
        ("line_id", pl.String, "ISA-95 production line"),
        ("uscc", pl.String, "Enterprise"),
        ("city_code", pl.String, "Prefecture (GB/T 2260)"),
        ("industry_code", pl.String, "GB/T 4754 division"),
        ("product", pl.String, "Product"),
        ("unit", pl.String, "Unit of output"),
        *_PRODUCTION_FIGURES,
        *_OEE_COLS,
    ),
)


PRODUCTION_ENTERPRISE_DAILY = TableSpec(
    name="theme.production_enterprise_daily",
    description="OEE and energy intensity per enterprise x local day, rolled up from its lines by summing components.",
    domain="production",
    grade=2,
    owner="production-theme",
    partition_by="day",
    key=("day", "uscc"),
    cluster_by=("city_code", "industry_code"),
    month_files=True,
    columns=cols(
        ("day", pl.Date, "Local day"),
        ("uscc", pl.String, "Enterprise"),
        ("city_code", pl.String, "Prefecture (GB/T 2260)"),
        ("industry_code", pl.String, "GB/T 4754 division"),
        ("lines", pl.Int64, "Production lines reporting"),
        ("unit", pl.String, "Unit of output; 'mixed' when the lines report different units"),
        *_PRODUCTION_FIGURES,
        *_OEE_COLS,
        ("energy_tce", pl.Float64, "Energy of the day from theme.energy_daily, tce (GB/T 2589)"),
        (
            "energy_intensity",
            pl.Float64,
            "tce per unit of output (good and scrap alike); null without energy data or with mixed units",
        ),
    ),
)


PRODUCTION_TABLES = (SILVER_PRODUCTION, QUARANTINE_PRODUCTION, PRODUCTION_DAILY, PRODUCTION_ENTERPRISE_DAILY)
