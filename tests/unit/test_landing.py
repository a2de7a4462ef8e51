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
