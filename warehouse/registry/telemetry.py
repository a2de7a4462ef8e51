"""Telemetry from key equipment: landing ledger, bronze, silver, quarantine, the energy and equipment themes, and enterprises' energy reports."""

from __future__ import annotations

import polars as pl

from warehouse.registry.spec import DAILY, LINEAGE_COLS, QUALITY_COUNT_COLS, UTC_TS, TableSpec, cols

BRONZE_TELEMETRY = TableSpec(
    name="bronze.telemetry_raw",
    description="Every landed telemetry record kept as it came (all fields as text), with lineage.",
    domain="production",
    grade=2,
    owner="data-engineering",
    partition_by="landing_date",
    key=("content_hash", "line_no"),
    fresh_within=DAILY,
    readings=True,
    columns=cols(
        ("landing_date", pl.Date, "Local (Asia/Shanghai) date the file landed (its modification time)"),
        (
            "reading_day",
            pl.Date,
            "Local day of the reading's timestamp; the landing date if it does not parse",
        ),
        *LINEAGE_COLS,
        ("content_hash", pl.String, "SHA-256 of the landing file's bytes"),
        ("ingested_at", UTC_TS, "When the record was ingested"),
        ("uscc", pl.String, "Enterprise unified social credit code as landed"),
        ("equipment_id", pl.String, "Equipment id as landed"),
        ("metric", pl.String, "Metric name as landed"),
        ("ts", pl.String, "Timestamp as landed (with or without offset)"),
        (
            "ts_utc",
            UTC_TS,
            "ts parsed at ingest (offset as given, else Asia/Shanghai local); null when it does not parse",
        ),
        ("value", pl.String, "Value as landed"),
        ("unit", pl.String, "Unit as landed"),
        ("raw_line", pl.String, "Original text of a line that could not be parsed"),
        (
            "shard_bucket",
            pl.Int16,
            "crc32(trimmed equipment_id) mod 256: the day build reads one shard's bucket range by file statistics",
        ),
        (
            "quality",
            pl.String,
            "Quality the source reported (good/uncertain/bad, e.g. OPC UA status); optional",
        ),
    ),
)


LANDING_FILES = TableSpec(
    name="catalog.landing_files",
    description="One row per landing file version seen: ingested, skipped as a re-sent duplicate, rejected, or superseded.",
    domain="operations",
    grade=1,
    owner="data-engineering",
    key=("source_file", "content_hash"),
    columns=cols(
        ("source_file", pl.String, "Path relative to landing/"),
        ("content_hash", pl.String, "SHA-256 of the file's bytes"),
        ("size_bytes", pl.Int64, "File size"),
        ("modified_at", UTC_TS, "File modification time when it was seen"),
        ("landing_date", pl.Date, "Local date of the file's modification time"),
        (
            "status",
            pl.String,
            "ingested | duplicate_file | rejected | in_progress (stale, not ingested) | superseded (a corrected file replaced it)",
        ),
        ("reason", pl.String, "Why a file was rejected or skipped; schema notes for ingested files"),
        ("records", pl.Int64, "Records ingested from the file"),
        ("reading_days", pl.List(pl.Date), "Local reading days the file touched"),
        ("ingest_run_id", pl.String, "Dagster run that handled the file"),
        ("ingested_at", UTC_TS, "When the file was handled"),
        ("superseded_at", UTC_TS, "When a corrected version under the same path replaced this one"),
    ),
)


SILVER_TELEMETRY = TableSpec(
    name="silver.telemetry",
    description="Typed, deduplicated readings of one local day (Asia/Shanghai), UTC timestamps, canonical units.",
    domain="production",
    grade=2,
    owner="data-engineering",
    partition_by="day",
    fresh_within=DAILY,
    key=("equipment_id", "metric", "ts_utc"),
    readings=True,
    columns=cols(
        ("day", pl.Date, "Local day (Asia/Shanghai) of the reading"),
        ("uscc", pl.String, "Enterprise (from equipment master data)"),
        ("equipment_id", pl.String, "Equipment"),
        ("metric", pl.String, "Metric name"),
        ("ts_utc", UTC_TS, "Reading time in UTC"),
        ("value", pl.Float64, "Value in the canonical unit"),
        ("unit", pl.String, "Canonical unit (kW, kWh, ℃, MPa, m³, t ...)"),
        ("quality_flag", pl.String, "good | uncertain | bad"),
        (
            "quality_reason",
            pl.String,
            "out_of_range, stuck, meter_drop, source_bad, source_uncertain ... for non-good readings",
        ),
        *LINEAGE_COLS,
    ),
)


QUARANTINE_TELEMETRY = TableSpec(
    name="quarantine.telemetry",
    description="Landed telemetry records that cannot be used, with the rule that rejected them and the payload.",
    domain="production",
    grade=2,
    owner="data-engineering",
    partition_by="day",
    key=("source_file", "line_no"),
    readings=True,
    columns=cols(
        ("day", pl.Date, "Reading day the record was routed to"),
        ("reason", pl.String, "Reason code = id of the quality rule that failed"),
        *LINEAGE_COLS,
        ("payload", pl.String, "Original record as JSON"),
        ("quarantined_run_id", pl.String, "Run that built the day"),
    ),
)


ENERGY_DAILY = TableSpec(
    name="theme.energy_daily",
    description="Energy per enterprise x equipment x local day: per carrier in its own unit and in tce (GB/T 2589).",
    domain="production",
    grade=2,
    owner="energy-theme",
    partition_by="day",
    fresh_within=DAILY,
    key=("day", "equipment_id"),
    cluster_by=("city_code", "industry_code"),
    month_files=True,
    columns=cols(
        ("day", pl.Date, "Local day [00:00, 24:00) Asia/Shanghai"),
        ("uscc", pl.String, "Enterprise"),
        ("city_code", pl.String, "Prefecture (GB/T 2260)"),
        ("industry_code", pl.String, "GB/T 4754 division"),
        ("equipment_id", pl.String, "Equipment"),
        ("equipment_type", pl.String, "Equipment type"),
        (
            "electricity_kwh",
            pl.Float64,
            "Electricity from the cumulative meter, resets and rollovers handled",
        ),
        ("natural_gas_m3", pl.Float64, "Natural gas from the cumulative meter"),
        ("coal_t", pl.Float64, "Raw coal from the cumulative meter"),
        ("energy_tce", pl.Float64, "All carriers in tonnes of standard coal equivalent (GB/T 2589)"),
        ("peak_load_kw", pl.Float64, "Highest good power reading"),
        ("mean_load_kw", pl.Float64, "Mean of good power readings"),
        ("meter_drops", pl.Int64, "Meter resets and rollovers detected"),
        ("readings_expected", pl.Int64, "Metrics x readings per day at the 15-minute interval"),
        ("readings_received", pl.Int64, "Distinct readings that arrived"),
        ("completeness_pct", pl.Float64, "Received / expected x 100 (complete at >= 90)"),
        *QUALITY_COUNT_COLS,
    ),
)


EQUIPMENT_DAILY = TableSpec(
    name="theme.equipment_daily",
    description="Operating figures per equipment x local day: running hours, starts, availability, limit exceedances.",
    domain="operations",
    grade=1,
    owner="equipment-theme",
    partition_by="day",
    fresh_within=DAILY,
    key=("day", "equipment_id"),
    cluster_by=("uscc", "equipment_type"),
    month_files=True,
    columns=cols(
        ("day", pl.Date, "Local day"),
        ("uscc", pl.String, "Enterprise"),
        ("equipment_id", pl.String, "Equipment"),
        ("equipment_type", pl.String, "Equipment type"),
        ("running_hours", pl.Float64, "Hours in state running (state readings x 15 min)"),
        ("fault_hours", pl.Float64, "Hours in state fault"),
        ("starts", pl.Int64, "Transitions into running"),
        ("availability_pct", pl.Float64, "Observed hours not in fault / observed hours x 100"),
        ("limit_exceedances", pl.Int64, "Good readings above the metric's alarm limit"),
        *QUALITY_COUNT_COLS,
    ),
)


# Enterprise energy statistics reports (能源统计报表 / 快报) and their agreement with the monitored days.
_REPORT_FIGURES = (
    ("electricity_kwh", pl.Float64, "Electricity consumed over [from_day, through_day], kWh"),
    ("natural_gas_m3", pl.Float64, "Natural gas consumed, m³"),
    ("coal_t", pl.Float64, "Raw coal consumed, t"),
    (
        "energy_tce",
        pl.Float64,
        "All carriers in tonnes of standard coal equivalent, as the enterprise reports",
    ),
)


ENERGY_REPORT = TableSpec(
    name="silver.energy_report",
    description=(
        "Enterprises' own energy statistics per month (monthly report, or a month-to-date flash report), "
        "the figure the monitored daily sums must agree with within 5%."
    ),
    domain="management",
    grade=2,
    owner="energy-theme",
    group="energy_reports",  # compared with theme.energy_daily, so after the themes
    key=("uscc", "month", "through_day"),
    columns=cols(
        ("uscc", pl.String, "Reporting enterprise (GB 32100)"),
        ("month", pl.String, "Reporting month, YYYY-MM"),
        ("from_day", pl.Date, "First local day the figures cover (the 1st, or the first monitored day)"),
        ("through_day", pl.Date, "Last local day the figures cover (month end, or month to date)"),
        ("report_kind", pl.String, "monthly (through the month's last day) | flash (month to date)"),
        *_REPORT_FIGURES,
        ("reported_at", UTC_TS, "When the enterprise filed the report"),
        ("source_file", pl.String, "Landing file, relative to landing/"),
        ("line_no", pl.Int64, "CSV line (header = 1)"),
    ),
)


QUARANTINE_ENERGY_REPORT = TableSpec(
    name="quarantine.energy_report",
    description="Energy report rows (and unreadable files, line 0) that cannot be used, with the rule that failed.",
    domain="management",
    grade=2,
    owner="energy-theme",
    group="energy_reports",  # compared with theme.energy_daily, so after the themes
    key=("source_file", "line_no"),
    columns=cols(
        ("source_file", pl.String, "Landing file, relative to landing/"),
        ("line_no", pl.Int64, "CSV line (header = 1); 0 for a whole file"),
        ("reason", pl.String, "Reason code = id of the quality rule that failed"),
        ("uscc", pl.String, "USCC as landed"),
        ("payload", pl.String, "Original row as JSON"),
    ),
)


ENERGY_REPORT_AGREEMENT = TableSpec(
    name="catalog.energy_report_agreement",
    description=(
        "Per report: the enterprise's reported energy against the sum of theme.energy_daily over the same "
        "days (rule daily_sums_agree_with_monthly, tolerance 5%), or why it was not evaluated."
    ),
    domain="management",
    grade=2,
    owner="data-quality",
    group="energy_reports",  # compared with theme.energy_daily, so after the themes
    key=("uscc", "month", "through_day"),
    columns=cols(
        ("uscc", pl.String, "Enterprise"),
        ("month", pl.String, "Reporting month, YYYY-MM"),
        ("from_day", pl.Date, "First local day of the report"),
        ("through_day", pl.Date, "Last local day of the report"),
        ("days_in_report", pl.Int64, "Local days the report covers"),
        ("days_built", pl.Int64, "Of those, days present in theme.energy_daily"),
        ("reported_tce", pl.Float64, "Energy the enterprise reported, tce"),
        ("daily_sum_tce", pl.Float64, "Sum of the enterprise's theme.energy_daily over the days, tce"),
        ("deviation", pl.Float64, "(daily_sum - reported) / reported; null when not evaluated"),
        ("status", pl.String, "agrees | disagrees | not_evaluated"),
        ("note", pl.String, "Why a report disagrees or was not evaluated"),
        ("checked_at", UTC_TS, "When the comparison ran"),
    ),
)


ENERGY_REPORT_TABLES = (ENERGY_REPORT, QUARANTINE_ENERGY_REPORT, ENERGY_REPORT_AGREEMENT)
