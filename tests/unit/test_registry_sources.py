"""Register and roster validation: every rule with valid and invalid vectors, bad files, reconciliation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from assets.enterprise.golden import build_registry, match_roster, survive
from assets.enterprise.sources import (
    SourceError,
    parse_date,
    prepare_register,
    read_roster,
    validate_register,
)
from quality.rules import REGISTER_ROW_RULES, first_failed_rule
from simulator.register import CODE_DEFECTS
from warehouse.codes import id_check_char, make_uscc, uscc_check_char
from warehouse.contracts import REGISTER_COLUMNS, ROSTER_COLUMNS

VALID = "914403001922038216"
RESIDENT_ID = "11010519491231002X"  # the GB 11643 standard's example
HEADER = ",".join(REGISTER_COLUMNS)


def _row(
    uscc=VALID,
    name="山东鲁泰化工有限公司",
    region="370102",
    industry="26",
    date="2020/1/5",
    status="存续",
    resident_id=RESIDENT_ID,
):
    return (
        f"{uscc},{name},张三,13812341234,{resident_id},山东省济南市经十路1号,{region},{industry},100.00,"
        f"{status},{date}"
    )


def _write(path: Path, *rows: str, encoding="gb18030") -> Path:
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return path


def _reason(tmp_path: Path, **kw) -> str | None:
    v = validate_register(
        _write(tmp_path / "market_regulation_20260101.csv", _row(**kw)), relative_to=tmp_path
    )
    return v.quarantined["reason"][0] if v.quarantined.height else None


@pytest.mark.parametrize(
    "date,expected",
    [
        ("2020/1/5", dt.date(2020, 1, 5)),
        ("2020-01-05", dt.date(2020, 1, 5)),
        ("20200105", dt.date(2020, 1, 5)),
        ("43835", dt.date(2020, 1, 5)),
        (43835, dt.date(2020, 1, 5)),
        (dt.datetime(2020, 1, 5, 0, 0), dt.date(2020, 1, 5)),
        ("2020-13-45", None),
        ("", None),
        ("next week", None),
        ("29990101", None),
    ],
)
def test_mixed_date_formats_and_excel_serials_parse(date, expected):
    assert parse_date(date) == expected


def test_valid_register_row_passes(tmp_path):
    assert _reason(tmp_path) is None


def test_uscc_check_character_is_quarantined(tmp_path):
    assert _reason(tmp_path, uscc=VALID[:17] + "7") == "uscc_check_char"


def test_embedded_organization_code_check_is_quarantined(tmp_path):
    bad_org = VALID[:16] + ("1" if VALID[16] != "1" else "2") + VALID[17]
    assert _reason(tmp_path, uscc=bad_org) == "uscc_org_code_check"


@pytest.mark.parametrize(
    "uscc,reason", [("91440300192203821", "uscc_length"), ("91440300192203821I", "uscc_charset")]
)
def test_uscc_length_and_charset(tmp_path, uscc, reason):
    assert _reason(tmp_path, uscc=uscc) == reason


@pytest.mark.parametrize(
    "uscc,reason",
    [
        ("G" + VALID[1:17], "uscc_authority"),  # G is no GB 32100 registration authority
        ("95" + VALID[2:17], "uscc_institution_type"),  # market regulation (9) assigns types 1, 2, 3
        ("91379999" + VALID[8:17], "uscc_division"),  # positions 3-8 never a GB/T 2260 division
        ("913701AB" + VALID[8:17], "uscc_division"),
    ],
)
def test_uscc_authority_type_and_division_each_have_their_reason(tmp_path, uscc, reason):
    assert _reason(tmp_path, uscc=uscc + uscc_check_char(uscc)) == reason


@pytest.mark.parametrize("authority,kind", [("N", "2"), ("Y", "1"), ("A", "1"), ("5", "3")])
def test_uscc_of_authorities_a_n_y_and_others_pass(tmp_path, authority, kind):
    assert _reason(tmp_path, uscc=make_uscc("370102", "MA3C1234", authority, kind)) is None


def _resident_id(first17: str) -> str:
    return first17 + id_check_char(first17)


@pytest.mark.parametrize(
    "resident_id,reason",
    [
        (_resident_id("37999919780101123"), "id_region"),
        (_resident_id("37010223331367123"), "id_birth_date"),  # the 2333-13-67
        (_resident_id("37010218991231123"), "id_birth_date"),  # before 1900
        (RESIDENT_ID[:17] + "1", "id_check_char"),
        ("1101051949123100", "id_format"),
        ("110105194912310AB2", "id_format"),  # the three sequence digits
        (_resident_id("37010219780101123"), None),  # 历下区 (1983-) for someone born in 1978: valid
        (_resident_id("37120219600101123"), None),  # Laiwu, merged into Jinan in 2019: valid
        ("", None),  # not given
    ],
)
def test_resident_id_checks_each_have_their_reason(tmp_path, resident_id, reason):
    assert _reason(tmp_path, resident_id=resident_id) == reason


def test_an_invalid_resident_id_is_masked_in_quarantine(tmp_path):
    rid = _resident_id("37010223331367123")
    v = validate_register(_write(tmp_path / "r.csv", _row(resident_id=rid)), relative_to=tmp_path)
    assert v.quarantined["reason"].to_list() == ["id_birth_date"]
    assert rid not in v.quarantined["payload"][0] and "370102********" in v.quarantined["payload"][0]


def test_region_must_be_a_real_division_not_only_a_shandong_prefix(tmp_path):
    assert _reason(tmp_path, region="370199") == "region_invalid"
    assert _reason(tmp_path, region="370120") is None  # Jinan 市区 until 1983: historical, still valid


def test_laiwu_3712_is_valid_and_maps_to_jinan(tmp_path):
    v = validate_register(_write(tmp_path / "r.csv", _row(region="371202")), relative_to=tmp_path)
    assert v.quarantined.height == 0
    assert v.clean.row(0, named=True)["city_code"] == "3701"
    assert v.clean.row(0, named=True)["division_code"] == "371202"


@pytest.mark.parametrize("region", ["110105", "3799", "", "abc"])
def test_region_outside_shandong_is_quarantined(tmp_path, region):
    assert _reason(tmp_path, region=region) == "region_invalid"


@pytest.mark.parametrize(
    "industry,reason", [("26", None), ("2614", None), ("99", "industry_invalid"), ("", "industry_invalid")]
)
def test_industry_must_be_a_gbt4754_division(tmp_path, industry, reason):
    assert _reason(tmp_path, industry=industry) == reason


def test_impossible_date_is_quarantined(tmp_path):
    assert _reason(tmp_path, date="2020-13-45") == "date_invalid"


def test_full_width_and_spaces_in_names_are_normalized(tmp_path):
    v = validate_register(
        _write(tmp_path / "r.csv", _row(name=" 山东\u3000鲁泰 化工（集团）有限公司 ")), relative_to=tmp_path
    )
    assert v.clean["name"][0] == "山东鲁泰化工(集团)有限公司"


def test_duplicates_resolved_last_line_wins_and_counts_reconcile(tmp_path):
    path = _write(tmp_path / "r.csv", _row(status="存续"), _row(status="注销"), _row(uscc=VALID[:17] + "7"))
    v = validate_register(path, relative_to=tmp_path)
    assert (v.landed, v.clean.height, v.quarantined.height, v.duplicates) == (3, 1, 1, 1)
    assert v.clean["status"][0] == "deregistered"
    assert v.landed == v.clean.height + v.quarantined.height + v.duplicates


def test_quarantine_payload_masks_personal_data(tmp_path):
    v = validate_register(_write(tmp_path / "r.csv", _row(region="110105")), relative_to=tmp_path)
    payload = v.quarantined["payload"][0]
    assert "张三" not in payload and "13812341234" not in payload and "138****1234" in payload


def test_utf8_register_is_read_too(tmp_path):
    v = validate_register(_write(tmp_path / "r.csv", _row(), encoding="utf-8"), relative_to=tmp_path)
    assert v.clean.height == 1 and v.clean["name"][0] == "山东鲁泰化工有限公司"


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", "file_empty"),
        (b"  \n", "file_empty"),
        ("\n".join([HEADER]).encode("gb18030"), "file_empty"),
        (b"a,b,c\n1,2,3\n", "header_missing"),
        (b"\xff\xfe\x00\xd8\x00\xdc\xff", "file_undecodable"),
    ],
)
def test_bad_register_files_become_one_quarantine_row_each(tmp_path, content, reason):
    path = tmp_path / "registry" / "bad.csv"
    path.parent.mkdir()
    path.write_bytes(content)
    v = validate_register(path, relative_to=tmp_path)
    assert v.quarantined["reason"].to_list() == [reason]
    assert v.quarantined["line_no"].to_list() == [0]
    assert "bad.csv" in v.quarantined["payload"][0]


def test_register_rules_are_declared_once_and_ordered():
    ids = [r.id for r in REGISTER_ROW_RULES]
    assert ids.index("uscc_org_code_check") < ids.index("uscc_check_char") < ids.index("region_invalid")
    assert ids[ids.index("uscc_charset") + 1 : ids.index("uscc_org_code_check")] == [
        "uscc_authority",
        "uscc_institution_type",
        "uscc_division",
    ]
    assert ids[-4:] == ["id_format", "id_region", "id_birth_date", "id_check_char"]
    df = prepare_register(
        pl.DataFrame(
            {c: [None] for c in REGISTER_COLUMNS.values()},
            schema={c: pl.String for c in REGISTER_COLUMNS.values()},
        ).with_columns(malformed=pl.lit(False))
    )
    assert df.select(first_failed_rule(REGISTER_ROW_RULES)).item() == "uscc_length"


# ---- roster ------------------------------------------------------------------------------------------
ROSTER_HEADER = list(ROSTER_COLUMNS)


def _roster(path: Path, rows: list[list], *, sheet="Sheet1", header_at=1) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for _ in range(header_at - 1):
        ws.append(["说明"])
    ws.append(ROSTER_HEADER)
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def _scores(level):
    return [3.0] * 8 + [level]


def test_roster_with_renamed_sheet_and_moved_header_is_read(tmp_path):
    path = _roster(
        tmp_path / "k.xlsx",
        [["甲有限公司", VALID, "370102", "26", "一级", "是", 45000, *_scores(3)]],
        sheet="名单（改）",
        header_at=5,
    )
    df = read_roster(path)
    assert df.height == 1 and df["line_no"][0] == 6 and df["assessed_on"][0] == dt.date(2023, 3, 15)


def test_roster_without_header_is_a_clear_error(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.append(["name", "code"])
    wb.save(tmp_path / "k.xlsx")
    with pytest.raises(SourceError) as err:
        read_roster(tmp_path / "k.xlsx")
    assert err.value.reason == "header_missing" and "k.xlsx" in str(err.value)


def test_corrupt_workbook_is_a_clear_error(tmp_path):
    (tmp_path / "k.xlsx").write_bytes(b"not a zip")
    with pytest.raises(SourceError) as err:
        read_roster(tmp_path / "k.xlsx")
    assert err.value.reason == "file_unreadable"


def _register_frame(tmp_path):
    other = make_uscc("371202", "12345678")
    path = _write(
        tmp_path / "r.csv", _row(), _row(uscc=other, name="莱芜钢铁有限公司", region="371202", industry="31")
    )
    return validate_register(path, relative_to=tmp_path).clean


def test_roster_matches_by_uscc_then_by_normalized_name_and_city(tmp_path):
    register = _register_frame(tmp_path)
    rows = [
        [
            "山东鲁泰化工有限责任公司",
            VALID,
            "370102",
            "25",
            "一级",
            "是",
            "2022/3/1",
            *_scores(4),
        ],  # conflicts: name, industry
        [
            " 莱芜\u3000钢铁有限公司",
            None,
            "370102",
            "31",
            "二级",
            "是",
            None,
            *[None] * 9,
        ],  # no USCC, Jinan = Laiwu
        [
            "莱芜钢铁有限公司",
            "370000123456789",
            "371203",
            "31",
            "二级",
            "是",
            dt.datetime(2024, 5, 6),
            *_scores(2),
        ],  # old reg no
        ["未登记有限公司", None, "370102", "26", "三级", "否", None, *[None] * 9],
        ["山东鲁泰化工有限公司", VALID, "370102", "26", "一级", "是", "not a date", *_scores(3)],
        ["山东鲁泰化工有限公司", VALID, "370102", "26", "一级", "是", "2023/3/1", *_scores(7)],
    ]
    raw = read_roster(_roster(tmp_path / "k.xlsx", rows))
    m = match_roster(raw, register, "registry/k.xlsx")
    assert dict(m.quarantined.group_by("reason").len().iter_rows()) == {
        "roster_unmatched": 1,
        "assessment_date_invalid": 1,
        "dcmm_level_invalid": 1,
    }
    assert m.matched_by_name == 1 and m.conflicts == 2
    assert m.assessments.height == 2 and set(m.assessments["matched_by"]) == {"uscc", "name_region"}
    golden = survive(register, m.attributes)
    luta = golden.filter(pl.col("uscc") == VALID).row(0, named=True)
    assert luta["name"] == "山东鲁泰化工有限公司" and luta["industry_code"] == "26"  # the register wins
    assert luta["key_energy_user"] is True and luta["sources"] == "registry+roster"  # the roster wins


def test_simulated_registry_matches_ground_truth(tmp_path):
    from simulator import generate

    m = generate(
        tmp_path / "landing", tmp_path / "m.json", enterprises=30, days=1, start=dt.date(2026, 11, 1), seed=3
    )
    b = build_registry(tmp_path / "landing" / "registry")
    assert b.reasons == m["registry"]["quarantined"]
    for (
        reason
    ) in CODE_DEFECTS.values():  # every code-standard defect class is in the ground truth, per export
        assert m["registry"]["quarantined"][reason] >= 2
    for v in b.files:
        assert v.landed == v.clean.height + v.quarantined.height + v.duplicates
        if v.source_file.endswith(".csv"):
            assert v.duplicates == m["registry"]["files"][Path(v.source_file).name]["duplicates"]
    assert b.roster.matched_by_name == m["registry"]["roster"]["matched_by_name"]
    assert b.roster.conflicts == m["registry"]["roster"]["conflicts"]
    assert b.assessments.height == m["registry"]["roster"]["assessments"]
    assert sorted(b.snapshots[-1][1]["uscc"]) == m["registry"]["golden_usccs"]


def test_an_export_without_the_id_number_column_is_still_read(tmp_path):
    """Older exports have no 法定代表人证件号码 column: the column reads as null, nothing is quarantined."""
    header = ",".join(c for c in REGISTER_COLUMNS if c != "法定代表人证件号码")
    row = (
        f"{VALID},山东鲁泰化工有限公司,张三,13812341234,山东省济南市经十路1号,370102,26,100.00,存续,2020/1/5"
    )
    path = tmp_path / "market_regulation_20260101.csv"
    path.write_bytes((header + "\n" + row + "\n").encode("gb18030"))
    v = validate_register(path, relative_to=tmp_path)
    assert v.quarantined.is_empty() and v.clean["legal_representative_id"].to_list() == [None]


def test_the_id_number_is_masked_in_a_quarantined_payload(tmp_path):
    v = validate_register(
        _write(tmp_path / "market_regulation_20260101.csv", _row(region="110105")), relative_to=tmp_path
    )
    payload = v.quarantined["payload"][0]
    assert RESIDENT_ID not in payload and "110105********002X" in payload
