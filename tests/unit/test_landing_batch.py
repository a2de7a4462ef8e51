"""Landing files parsed many at a time give, file by file, exactly what reading each alone gives."""

import datetime as dt
import hashlib
import io
import json
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets.telemetry.batch import read_alone, read_landing_files
from assets.telemetry.landing import LandedFile, RejectedFile
from tests.unit.test_ingest_landing import drop, ingest, ledger
from warehouse.registry import BRONZE_TELEMETRY
from warehouse.storage import Lake

HEADER = "uscc,equipment_id,metric,ts,value,unit\n"


def csv_row(i: int, ts: str = "2026-11-02 08:00:00") -> str:
    return f"91370102MA3C123469,EQ{i:06d},power,{ts},{i}.5,kW\n"


def json_row(i: int, **extra) -> str:
    rec = {"uscc": "91370102MA3C123469", "equipment_id": f"EQ{i:06d}", "metric": "power"}
    return json.dumps(rec | {"ts": "2026-11-02T00:00:00Z", "value": i + 0.5, "unit": "kW"} | extra) + "\n"


def parquet_bytes(n: int, uscc: str = "USCC", **more: list) -> bytes:
    """A Parquet landing file; `uscc` names that column (the batch reads only exact contract names)."""
    buf = io.BytesIO()
    pl.DataFrame(
        {
            uscc: ["91370102MA3C123469"] * n,
            "equipment_id": [f"EQ{i:06d}" for i in range(n)],
            "metric": ["power"] * n,
            "ts": ["2026-11-02T00:00:00+08:00"] * n,
            "value": [float(i) for i in range(n)],
            "unit": ["kW"] * n,
        }
        | more
    ).write_parquet(buf)
    return buf.getvalue()


GOOD_CSV = HEADER + "".join(csv_row(i) for i in range(5))
GOOD_JSONL = "".join(json_row(i) for i in range(5))
# name -> content: the clean shape the batch reads, and every shape it must leave to the one-file path
FILES: dict[str, bytes] = {
    "a-good.csv": GOOD_CSV.encode(),
    "b-crlf.csv": GOOD_CSV.replace("\n", "\r\n").encode(),
    "c-extra-column.csv": (HEADER.strip() + ",remark\n" + csv_row(7).strip() + ",x\n").encode(),
    "d-reordered.csv": ("unit,value,ts,metric,equipment_id,uscc\n" + "kW,1.5,t,power,EQ1,U\n").encode(),
    "e-short-and-blank.csv": (HEADER + csv_row(1) + "91370102MA3C123469,EQ1,pow\n\n" + csv_row(2)).encode(),
    "f-trailing-blank.csv": (GOOD_CSV + "\n \n\n").encode(),
    "f-ragged-balanced.csv": (HEADER + "U,E,power,t,1\n" + "U,E,power,t,1,kW,x\n" + csv_row(1)).encode(),
    "f-empty-fields.csv": (HEADER + ",,,,,\n" + "U, E ,power,t,,kW\n").encode(),
    "f-bom-inside.csv": (HEADER + "\ufeffU,E,power,t,1,kW\n").encode(),
    "g-quoted.csv": (HEADER + csv_row(1) + '91370102MA3C123469,EQ1,power,t,"12,5",kW\n').encode(),
    "h-missing-columns.csv": b"uscc,metric\nU,power\n",
    "i-header-only.csv": HEADER.encode(),
    "j-bom.csv": b"\xef\xbb\xbf" + GOOD_CSV.encode(),
    "k-gb18030.csv": (HEADER.strip() + ",remark\n" + csv_row(3).strip() + ",检修\n").encode("gb18030"),
    "l-undecodable.csv": HEADER.encode() + b"\xff\xfe\xfa\n",
    "m-empty.csv": b"  \n",
    "n-good.jsonl": GOOD_JSONL.encode(),
    "o-no-final-newline.jsonl": GOOD_JSONL.rstrip("\n").encode(),
    "p-extra-key.jsonl": (GOOD_JSONL + json_row(9, remark="r")).encode(),
    # an other key the byte counts of `only_field_values` must not miss: before whitespace, beside a
    # null field, with a repeated key, or with `":` inside a string making up the count
    "p-extra-key-before-space.jsonl": (
        GOOD_JSONL + json_row(9).replace('"unit"', '"remark" : "r", "unit"')
    ).encode(),
    "p-extra-key-tab.jsonl": (GOOD_JSONL + json_row(9).replace('"unit"', '"remark"\t: 1, "unit"')).encode(),
    "p-null-and-extra.jsonl": (json_row(1, unit=None) + json_row(2, remark=None)).encode(),
    "p-repeated-key.jsonl": (json_row(1).replace('{"uscc"', '{"metric": "x", "uscc"') + json_row(2)).encode(),
    "p-colon-in-a-string.jsonl": (json_row(1, unit='k"W":') + json_row(2)).encode(),
    "p-only-nulls.jsonl": (json_row(1, unit=None) + json_row(2)).encode(),
    "q-broken-line.jsonl": (json_row(1) + '{"uscc": "U", "ts": \n' + json_row(2)).encode(),
    "r-blank-lines.jsonl": (json_row(1) + "\n\n" + json_row(2)).encode(),
    "s-two-objects-a-line.jsonl": (json_row(1).strip() + " " + json_row(2)).encode(),
    "t-key-in-a-value.jsonl": (json_row(1, unit='kW "note": x') + json_row(2)).encode(),
    "u-gb18030.jsonl": json_row(4, unit="℃").encode("gb18030"),
    "v-good.parquet": parquet_bytes(4),
    # the plain shapes read many files a call (grouped by schema), and shapes that are read alone
    "v-plain.parquet": parquet_bytes(3, "uscc"),
    "v-plain-longer.parquet": parquet_bytes(5, "uscc"),
    "v-plain-quality.parquet": parquet_bytes(2, "uscc", quality=["good", None]),
    "v-plain-integer-values.parquet": parquet_bytes(2, "uscc", value=[1, None]),
    "v-plain-empty.parquet": parquet_bytes(0, "uscc"),
    "v-nested.parquet": parquet_bytes(2, "uscc", remark=[{"a": 1}, {"a": 2}]),
    "v-extra-column.parquet": parquet_bytes(2, "uscc", remark=["a", "b"]),
    "w-corrupt.parquet": b"PAR1 not really",
    "x-unsupported.txt": b"hello\n",
    "y-good-again.csv": GOOD_CSV.replace("08:00", "09:00").encode(),
    "z-good-again.jsonl": GOOD_JSONL.replace("0.5", "0.25").encode(),
}


def assert_same(alone, batched, name: str) -> None:
    if isinstance(alone, RejectedFile):
        assert isinstance(batched, RejectedFile), name
        assert (batched.reason, batched.detail) == (alone.reason, alone.detail), name
        return
    assert not isinstance(batched, RejectedFile), f"{name}: {batched}"
    assert batched.notes == alone.notes, name
    try:
        assert_frame_equal(batched.rows, alone.rows)
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc}") from exc


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_batch_of_every_shape_gives_each_file_what_reading_it_alone_gives(tmp_path, seed):
    items = []
    for name, data in FILES.items():
        path = tmp_path / name
        path.write_bytes(data)
        items.append((path, f"telemetry/{name}", data))
    random.Random(seed).shuffle(items)
    batched = read_landing_files(items)
    alone = [read_alone(*item) for item in items]
    for item, one, many in zip(items, alone, batched, strict=True):
        assert_same(one, many, item[1])
    reasons = {
        item[1]: one.reason for item, one in zip(items, alone, strict=True) if isinstance(one, RejectedFile)
    }
    assert set(reasons.values()) >= {"missing_columns", "undecodable", "empty_file", "unreadable_parquet"}
    # the shapes that must leave the batch did: a broken JSON line is kept as raw_line, not lost
    broken = next(m for i, m in zip(items, batched, strict=True) if i[1].endswith("q-broken-line.jsonl"))
    assert broken.rows["raw_line"].to_list() == [None, '{"uscc": "U", "ts": ', None]
    assert broken.rows["line_no"].to_list() == [1, 2, 3]


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_shape_between_clean_files_of_its_format_reads_as_alone(tmp_path, name):
    """One shape at a time, so that no other odd file sends the whole batch down a slower path."""
    suffix = name.rsplit(".", 1)[1]
    good = {"csv": GOOD_CSV.encode(), "jsonl": GOOD_JSONL.encode()}.get(suffix, FILES["v-plain.parquet"])
    items = []
    for n, data in ((f"0-good.{suffix}", good), (name, FILES[name]), (f"9-good.{suffix}", good)):
        path = tmp_path / n
        path.write_bytes(data)
        items.append((path, f"telemetry/{n}", data))
    for item, many in zip(items, read_landing_files(items), strict=True):
        assert_same(read_alone(*item), many, item[1])


def test_a_malformed_file_in_a_batch_is_rejected_alone_and_the_others_keep_exact_lineage(tmp_path):
    """Files read and parsed together in one batch: the undecodable and the header-less file are
    rejected with the reasons the one-file path gives, the broken JSON line is kept as its raw line,
    and every other file's bronze rows carry its own name, hash and line numbers."""
    root, lake = tmp_path / "landing", Lake(tmp_path / "lake")
    landed = {}
    for i in range(40):
        name = f"gw/{i:02d}.{'csv' if i % 2 else 'jsonl'}"
        if i % 2:
            text = HEADER + "".join(csv_row(i * 100 + j, f"2026-11-02 {j:02d}:00:00") for j in range(3))
        else:
            text = "".join(json_row(i * 100 + j) for j in range(4))
        landed[name] = text.encode()
    landed["gw/13.csv"] = HEADER.encode() + b"\xff\xfe\n"  # undecodable in the middle of a CSV batch
    landed["gw/20.jsonl"] = (json_row(2000) + "not json\n" + json_row(2001)).encode()
    landed["gw/21.csv"] = b"uscc,metric\nU,power\n"
    for name, data in landed.items():
        drop(root, name, data)
    ingest(root, lake)
    fates = ledger(lake)
    assert fates["telemetry/gw/13.csv"] == ("rejected", "undecodable")
    assert fates["telemetry/gw/21.csv"] == ("rejected", "missing_columns")
    assert (root / "rejected" / "telemetry" / "gw" / "13.csv").exists()
    bronze = lake.read(BRONZE_TELEMETRY)
    for name, data in landed.items():
        rel = f"telemetry/{name}"
        if fates[rel][0] == "rejected":
            assert bronze.filter(pl.col("source_file") == rel).is_empty()
            continue
        assert fates[rel] == ("ingested", None)
        alone = read_alone(root / name, rel, data)
        mine = bronze.filter(pl.col("source_file") == rel).sort("line_no")
        assert mine["content_hash"].unique().to_list() == [hashlib.sha256(data).hexdigest()]
        assert mine["landing_date"].unique().to_list() == [dt.date(2026, 11, 3)]
        assert mine["ingest_run_id"].unique().to_list() == ["r1"]
        assert_same(alone, LandedFile(mine.select(alone.rows.columns), alone.notes), rel)
    broken = bronze.filter(pl.col("source_file") == "telemetry/gw/20.jsonl").sort("line_no")
    assert broken["raw_line"].to_list() == [None, "not json", None]
    assert bronze.height == sum(
        read_alone(root / n, f"telemetry/{n}", d).rows.height
        for n, d in landed.items()
        if fates[f"telemetry/{n}"][0] != "rejected"
    )


def test_plain_parquet_files_are_read_together_and_the_others_alone(tmp_path, monkeypatch):
    """The batch path is taken where it should be (so the comparisons above compare two paths)."""
    import assets.telemetry.batch as batch

    alone: list[str] = []
    monkeypatch.setattr(
        batch, "read_alone", lambda path, name, data=None: alone.append(name) or read_alone(path, name, data)
    )
    items = []
    for name, data in FILES.items():
        if name.endswith(".parquet"):
            (tmp_path / name).write_bytes(data)
            items.append((tmp_path / name, name, data))
    read_landing_files(items)
    assert sorted(alone) == [
        "v-extra-column.parquet",
        "v-good.parquet",
        "v-nested.parquet",
        "w-corrupt.parquet",
    ]
