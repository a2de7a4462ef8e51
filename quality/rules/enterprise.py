"""Enterprise rules: master data, the register and roster rows (code standards), unreadable files."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from quality.rules.spec import Expectation, Rule
from warehouse.domain import CITIES, EQUIPMENT_TYPES, INDUSTRIES
from warehouse.registry import ENTERPRISE, EQUIPMENT

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
