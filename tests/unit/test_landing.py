import io
import json

import polars as pl
import pytest

from assets.telemetry.landing import RejectedFile, read_landing_file

HEADER = "uscc,equipment_id,metric,ts,value,unit\n"
ROW = "91370102MA3C123469,EQ000001,power,2026-11-02T08:00:00+08:00,10.5,kW\n"


def land(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return read_landing_file(p, name)


def test_csv_with_quoted_comma_value_keeps_the_value_for_silver_to_judge(tmp_path):
    rows = land(
        tmp_path,
        "a.csv",
        (HEADER + ROW + '91370102MA3C123469,EQ000001,power,2026-11-02T08:15:00+08:00,"12,5",kW\n').encode(),
    ).rows
    assert rows["value"].to_list() == ["10.5", "12,5"]
    assert rows["raw_line"].null_count() == 2 and rows["line_no"].to_list() == [1, 2]


def test_csv_truncated_line_is_kept_as_raw_line(tmp_path):
    rows = land(tmp_path, "a.csv", (HEADER + ROW + "91370102MA3C123469,EQ000001,pow\n" + ROW).encode()).rows
    assert rows["raw_line"].to_list() == [None, "91370102MA3C123469,EQ000001,pow", None]
    assert rows["line_no"].to_list() == [1, 2, 3]


def test_utf8_bom_and_gb18030_with_extra_column_are_read(tmp_path):
    bom = land(tmp_path, "bom.csv", b"\xef\xbb\xbf" + (HEADER + ROW).encode())
    assert bom.rows["uscc"].item() == "91370102MA3C123469"
    gbk = land(
        tmp_path, "gbk.csv", (HEADER.strip() + ",remark\n" + ROW.strip() + ",检修\n").encode("gb18030")
    )
    assert gbk.rows["value"].item() == "10.5"
    assert gbk.notes == ["extra_columns: remark (ignored)"]


def test_jsonl_broken_line_is_kept_and_numbers_become_text(tmp_path):
    good = {"uscc": "U", "equipment_id": "E", "metric": "power", "ts": "t", "value": 10.5, "unit": "kW"}
    data = (
        json.dumps(good) + "\n" + '{"uscc": "U", "equip' + "\n" + json.dumps(good | {"value": None}) + "\n"
    ).encode()
    rows = land(tmp_path, "a.jsonl", data).rows
    assert rows["value"].to_list() == ["10.5", None, None]
    assert rows["raw_line"].to_list()[1] == '{"uscc": "U", "equip'


def test_parquet_rows_are_numbered(tmp_path):
    buf = io.BytesIO()
    pl.DataFrame(
        {f: ["x", "y"] for f in ("uscc", "equipment_id", "metric", "ts", "value", "unit")}
    ).write_parquet(buf)
    rows = land(tmp_path, "a.parquet", buf.getvalue()).rows
    assert rows["line_no"].to_list() == [1, 2]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.csv", b"", "empty_file"),
        ("blank.jsonl", b"\n\n", "empty_file"),
        ("nounit.csv", b"uscc,equipment_id,metric,ts,value\nU,E,power,t,1\n", "missing_columns"),
        ("cut.parquet", b"PAR1\x00\x01garbage", "unreadable_parquet"),
        ("binary.csv", b"\xff\xfe\xfa\x00\x81\xff", "undecodable"),
    ],
)
def test_unreadable_files_are_rejected_with_a_reason_naming_the_file(tmp_path, name, data, reason):
    with pytest.raises(RejectedFile) as err:
        land(tmp_path, name, data)
    assert err.value.reason == reason and name in str(err.value)


# ---- RFC 4180, vectorized parsing (issue 12 item 3, issue 13 item 3) -----------------------------


def test_csv_quoted_newline_stays_inside_its_field_and_numbers_by_first_line(tmp_path):
    data = HEADER + '91370102MA3C123469,EQ000001,power,"2026-11-02T08:15:00\n+08:00",10.5,kW\n' + ROW
    rows = land(tmp_path, "a.csv", data.encode()).rows
    assert rows["ts"].to_list() == ["2026-11-02T08:15:00\n+08:00", "2026-11-02T08:00:00+08:00"]
    assert rows["raw_line"].null_count() == 2
    assert rows["line_no"].to_list() == [1, 3]  # a record is numbered by its first physical line


def test_csv_crlf_escaped_quotes_and_short_records_keep_their_classification(tmp_path):
    data = (HEADER + ROW + 'U,"E ""1""",power,t,"1,5",kW\n' + "U,E,pow\n" + "U,E,m,t,1,kW,extra\n").replace(
        "\n", "\r\n"
    )
    rows = land(tmp_path, "a.csv", data.encode()).rows
    assert rows["equipment_id"].to_list() == ["EQ000001", 'E "1"', None, None]
    assert rows["value"].to_list()[:2] == ["10.5", "1,5"]
    assert rows["raw_line"].to_list() == [None, None, "U,E,pow", "U,E,m,t,1,kW,extra"]
    assert rows["line_no"].to_list() == [1, 2, 3, 4]


def test_csv_unclosed_quote_is_one_malformed_record_not_a_failure(tmp_path):
    rows = land(tmp_path, "a.csv", (HEADER + ROW + 'U,E,power,t,"1,kW\n' + ROW).encode()).rows
    assert rows["line_no"].to_list() == [1, 2]
    assert rows["raw_line"].to_list() == [None, 'U,E,power,t,"1,kW\n' + ROW.strip()]


def test_csv_quoted_field_over_the_field_limit_rejects_the_file_as_field_too_large(tmp_path):
    with pytest.raises(RejectedFile) as err:
        land(tmp_path, "big.csv", (HEADER + ROW + 'U,E,power,t,"' + "9" * 140_000 + '",kW\n').encode())
    assert err.value.reason == "field_too_large" and "999" not in str(err.value)


def test_jsonl_invalid_object_lines_are_found_among_valid_ones_and_extra_keys_noted(tmp_path):
    good = {"uscc": "U", "equipment_id": "E", "metric": "power", "ts": "t", "value": 10.5, "unit": "kW"}
    lines = [json.dumps(good)] * 5 + [
        '{"uscc": "U", "value": 1,}',
        "[1, 2]",
        "",
        json.dumps(good | {"site": "A"}),
    ]
    landed = land(tmp_path, "a.jsonl", ("\n".join(lines) + "\n").encode())
    rows = landed.rows
    assert rows["line_no"].to_list() == [1, 2, 3, 4, 5, 6, 7, 9]
    assert rows["raw_line"].to_list()[5:7] == ['{"uscc": "U", "value": 1,}', "[1, 2]"]
    assert rows["value"].to_list()[-1] == "10.5"
    assert landed.notes == ["extra_columns: site (ignored)"]


@pytest.mark.parametrize(
    ("extra", "noted"),
    [
        ('"site" : "A", ', ["site"]),  # whitespace before the colon: no `":` to count
        ('"site"\t:1, "zone": null, ', ["site", "zone"]),
        ('"uscc": "V", ', []),  # a repeated field is not another key
        ("", []),
    ],
)
def test_jsonl_other_keys_are_noted_however_they_are_spaced(tmp_path, extra, noted):
    line = '{EXTRA"uscc": "U", "equipment_id": "E", "metric": "power", "ts": "t", "value": 1, "unit": "kW"}\n'
    data = (line.replace("EXTRA", "") * 3 + line.replace("EXTRA", extra)).encode()
    landed = land(tmp_path, "a.jsonl", data)
    assert landed.rows.height == 4
    assert landed.notes == ([f"extra_columns: {', '.join(noted)} (ignored)"] if noted else [])


def test_parquet_with_a_nested_column_is_rejected_not_raised(tmp_path):
    buf = io.BytesIO()
    frame = pl.DataFrame({f: ["x"] for f in ("uscc", "equipment_id", "metric", "ts", "unit")})
    frame.with_columns(value=pl.Series([[1.0, 2.0]])).write_parquet(buf)
    with pytest.raises(RejectedFile) as err:
        land(tmp_path, "nested.parquet", buf.getvalue())
    assert err.value.reason == "unreadable" and "nested.parquet" in str(err.value)


def test_missing_columns_reason_does_not_quote_the_header(tmp_path):
    with pytest.raises(RejectedFile) as err:
        land(tmp_path, "h.csv", b"root:x:0:0:secret,b\n1,2\n")
    assert err.value.reason == "missing_columns" and "secret" not in str(err.value)
