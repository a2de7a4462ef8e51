"""Enterprises: the golden record, its quarantine, DCMM assessments, equipment master data and the enterprise themes."""

from __future__ import annotations

import polars as pl

from warehouse.domain import DCMM_DOMAINS
from warehouse.registry.spec import TableSpec, cols

_PERSON = (
    "legal_representative",
    pl.String,
    "Legal representative (personal data; masked outside silver)",
    2,
    "name",
)


_PHONE = ("phone", pl.String, "Contact phone (personal data; masked outside silver)", 2, "phone")


ENTERPRISE = TableSpec(
    name="silver.enterprise",
    description=(
        "Golden record of enterprises (SCD type 2): market-regulation register + industry roster; one current "
        "row per USCC (valid_to null), earlier versions kept with their validity."
    ),
    domain="management",
    grade=2,
    owner="enterprise-registry",
    key=("uscc", "valid_from"),
    columns=cols(
        ("uscc", pl.String, "Unified social credit code (GB 32100)"),
        ("name", pl.String, "Registered name, normalized (NFKC, whitespace removed)"),
        _PERSON,
        _PHONE,
        (
            "legal_representative_id",
            pl.String,
            "Resident ID number of the legal representative (GB 11643). Grade 3: kept in the provincial "
            "core only; analyst views leave the column out, the steward's show it masked",
            3,
            "id_number",
        ),
        ("address", pl.String, "Registered address"),
        ("city_code", pl.String, "Prefecture code (GB/T 2260, 4 digits; Laiwu 3712 mapped to Jinan 3701)"),
        ("division_code", pl.String, "County-level division code as registered (GB/T 2260, 6 digits)"),
        ("industry_code", pl.String, "GB/T 4754-2017 division (2 digits)"),
        ("registered_capital", pl.Float64, "Registered capital, 10,000 CNY"),
        ("status", pl.String, "active | deregistered | revoked (register status)"),
        ("established_date", pl.Date, "Date of establishment"),
        (
            "key_energy_user",
            pl.Boolean,
            "Key energy-using unit (>= 10,000 tce/a or designated), from the roster",
        ),
        ("energy_use_level", pl.String, "Energy-use level from the industry roster"),
        ("sources", pl.String, "registry | registry+roster"),
        ("valid_from", pl.Date, "Snapshot date from which this version holds"),
        ("valid_to", pl.Date, "Snapshot date from which it no longer holds; null for the current version"),
        ("row_hash", pl.String, "Hash of the tracked attributes (change detection)"),
    ),
)


QUARANTINE_ENTERPRISE = TableSpec(
    name="quarantine.enterprise",
    description="Register and roster rows (and unreadable files) that cannot enter the golden record, with a reason.",
    domain="management",
    grade=2,
    owner="enterprise-registry",
    key=("source_file", "line_no"),
    columns=cols(
        ("source_file", pl.String, "File under landing/registry"),
        ("line_no", pl.Int64, "CSV line (header = 1) or worksheet row; 0 for a whole file"),
        ("reason", pl.String, "Reason code = id of the quality rule that failed"),
        ("uscc", pl.String, "USCC as landed"),
        ("payload", pl.String, "Original record as JSON, personal fields masked", 2),
    ),
)


DCMM_ASSESSMENT = TableSpec(
    name="silver.dcmm_assessment",
    description="DCMM (GB/T 36073-2018) assessments from the industry roster, matched to the golden record.",
    domain="management",
    grade=1,
    owner="enterprise-registry",
    key=("uscc", "assessed_on"),
    columns=cols(
        ("uscc", pl.String, "Enterprise (matched by USCC or by normalized name and city)"),
        ("assessed_on", pl.Date, "Assessment date"),
        *[(f"score_{d}", pl.Float64, f"DCMM capability domain score: {d}") for d in DCMM_DOMAINS],
        ("level", pl.Int64, "Maturity level 1 initial .. 5 optimizing"),
        ("matched_by", pl.String, "uscc | name_region"),
    ),
)


EQUIPMENT = TableSpec(
    name="silver.equipment",
    description="Key equipment in the ISA-95 hierarchy (enterprise > site > area > line > equipment).",
    domain="production",
    grade=1,
    owner="enterprise-registry",
    key=("equipment_id",),
    columns=cols(
        ("equipment_id", pl.String, "Equipment id used by plant gateways"),
        ("uscc", pl.String, "Owning enterprise"),
        ("site_id", pl.String, "ISA-95 site"),
        ("area_id", pl.String, "ISA-95 area"),
        ("line_id", pl.String, "ISA-95 line"),
        ("equipment_type", pl.String, "boiler, reactor, compressor, pump, fan, motor, transformer ..."),
        ("rated_power_kw", pl.Float64, "Nameplate power"),
        ("metrics", pl.String, "Comma-separated metrics the equipment reports"),
    ),
)


THEME_ENTERPRISE = TableSpec(
    name="theme.enterprise",
    description="One profile per current enterprise: industry, city, key energy user, DCMM, equipment, energy, trading.",
    domain="management",
    grade=2,
    owner="enterprise-theme",
    key=("uscc",),
    columns=cols(
        ("uscc", pl.String, "Enterprise"),
        ("name", pl.String, "Registered name"),
        ("legal_representative_masked", pl.String, "Legal representative, masked (张*)", 2),
        ("phone_masked", pl.String, "Phone, masked (138****1234)", 2),
        ("city_code", pl.String, "Prefecture (GB/T 2260)"),
        ("industry_code", pl.String, "GB/T 4754 division"),
        ("status", pl.String, "Register status"),
        ("key_energy_user", pl.Boolean, "Key energy-using unit"),
        ("dcmm_level", pl.Int64, "Latest DCMM level"),
        ("dcmm_assessed_on", pl.Date, "Date of the latest DCMM assessment"),
        ("equipment_connected", pl.Int64, "Equipment connected to the telemetry collection"),
        ("energy_tce_30d", pl.Float64, "Energy of the last 30 local days up to as_of_day, tce (GB/T 2589)"),
        ("trades_sold", pl.Int64, "Clean trades as seller"),
        ("trades_bought", pl.Int64, "Clean trades as buyer"),
        ("trade_value_sold_cny", pl.Float64, "Value sold, CNY"),
        ("as_of_day", pl.Date, "Latest local day of energy data the profile covers"),
    ),
)


THEME_DCMM = TableSpec(
    name="theme.dcmm_assessment",
    description="DCMM assessments per enterprise and assessment: 8 domain scores, level, level >= 3 (plan target).",
    domain="management",
    grade=1,
    owner="enterprise-theme",
    key=("uscc", "assessed_on"),
    columns=cols(
        ("uscc", pl.String, "Enterprise"),
        ("name", pl.String, "Registered name"),
        ("city_code", pl.String, "Prefecture"),
        ("industry_code", pl.String, "GB/T 4754 division"),
        ("assessed_on", pl.Date, "Assessment date"),
        *[(f"score_{d}", pl.Float64, f"Score: {d}") for d in DCMM_DOMAINS],
        ("level", pl.Int64, "Maturity level 1-5"),
        ("level_ge_3", pl.Boolean, "Level 3 (robust) or above"),
        ("is_latest", pl.Boolean, "The enterprise's latest assessment"),
    ),
)


ENTERPRISE_GAPS = TableSpec(
    name="catalog.enterprise_gaps",
    description="Enterprises seen in telemetry or trading but not (currently) in the golden record.",
    domain="operations",
    grade=1,
    owner="data-quality",
    key=("source", "uscc"),
    columns=cols(
        ("source", pl.String, "telemetry | trading"),
        ("uscc", pl.String, "USCC as seen"),
        ("records", pl.Int64, "Readings (telemetry) or trades (trading) carrying it"),
        ("first_day", pl.Date, "First local day seen"),
        ("last_day", pl.Date, "Last local day seen"),
    ),
)
