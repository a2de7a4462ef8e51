"""The simulator: deterministic, realistic master data, and a manifest that the files themselves confirm.

The files are re-read here independently of the pipeline (csv/json/polars) and every manifest count is
recomputed from them: landed records per reading day, quarantine reasons, duplicates, mtimes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from simulator import generate
from simulator.province import build_province
from warehouse.codes import is_valid_uscc
from warehouse.domain import CITIES, EQUIPMENT_TYPES, INDUSTRIES, METRICS, TIMEZONE, UNIT_CONVERSIONS

TZ = ZoneInfo(TIMEZONE)
START = dt.date(2026, 11, 1)
FIELDS = ["uscc", "equipment_id", "metric", "ts", "value", "unit"]
WATERMARK_DAYS = 7
SMALL = {"enterprises": 10, "days": 4, "start": START}
TINY = {"enterprises": 6, "days": 2, "start": START}


def _generate(root: Path, seed: int = 7, defect_rate: float = 0.02, **kw) -> dict:
    args = SMALL | kw
    return generate(root / "landing", root / "manifest.json", seed=seed, defect_rate=defect_rate, **args)


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("province")
    return root, _generate(root)


def _tree(root: Path) -> dict[str, tuple[str, int]]:
    """Relative path -> (sha256, mtime ns) of every file under root."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _local_date(ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ns / 1e9, TZ).date()


_TS_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
_TS_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _parse_ts(ts: str | None, cache: dict) -> dt.datetime | None:
    """ISO 8601 with offset, or local Asia/Shanghai time without one; None when unparseable."""
    if ts not in cache:
        out = None
        try:
            if ts and _TS_OFFSET.match(ts):
                out = dt.datetime.fromisoformat(ts).astimezone(dt.UTC)
            elif ts and _TS_NAIVE.match(ts):
                out = dt.datetime.fromisoformat(ts).replace(tzinfo=TZ).astimezone(dt.UTC)
        except ValueError:
            out = None
        cache[ts] = out
    return cache[ts]


def _read(path: Path) -> tuple[list[dict | None], str | None]:
    """Records of a landing file (None for a malformed line), or the reason it is rejected as a whole."""
    data = path.read_bytes()
    if not data.strip():
        return [], "empty_file"
    if path.suffix == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except Exception:
            return [], "unreadable_parquet"
        assert all(frame.schema[f] == pl.String for f in FIELDS)
        return frame.select(FIELDS).to_dicts(), None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    lines = text.splitlines()
    if path.suffix == ".jsonl":
        out: list[dict | None] = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                out.append(None)
                continue
            out.append({f: None if obj.get(f) is None else str(obj[f]) for f in FIELDS})
        return out, None
    header = next(csv.reader([lines[0]]))
    if any(f not in header for f in FIELDS):
        return [], "missing_columns"
    out = []
    for row in csv.reader(lines[1:]):
        out.append(dict(zip(header, row, strict=True)) if len(row) == len(header) else None)
    return out, None


def _recount(landing: Path) -> dict:
    """Every count of the manifest's "expected" and "by_day", recomputed from the files alone."""
    equipment = set(pl.read_parquet(landing / "master" / "equipment.parquet")["equipment_id"])
    seen_hashes: set[str] = set()
    rejected: Counter = Counter()
    by_day: dict[str, Counter] = {}
    keys: set[tuple] = set()
    cache: dict = {}
    resent = no_offset = 0
    for path in sorted((landing / "telemetry").rglob("*")):
        if not path.is_file():
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen_hashes:
            resent += 1
            continue
        seen_hashes.add(digest)
        records, reason = _read(path)
        if reason:
            rejected[reason] += 1
            continue
        landed_on = _local_date(path.stat().st_mtime_ns)
        for rec in records:
            ts = _parse_ts(rec["ts"], cache) if rec else None
            day = ts.astimezone(TZ).date() if ts else landed_on
            value = (rec or {}).get("value")
            no_offset += ts is not None and not rec["ts"].endswith(("Z", "+00:00", "+08:00"))
            if rec is None:
                category = "malformed_record"
            elif ts is None:
                category = "bad_timestamp"
            elif (landed_on - day).days > WATERMARK_DAYS:
                category = "late_beyond_watermark"
            elif rec["equipment_id"] not in equipment:
                category = "unknown_equipment"
            elif rec["unit"] not in UNIT_CONVERSIONS:
                category = "unknown_unit"
            elif value is None or value.strip().lower() in ("", "nan", "null", "none"):
                category = "value_missing"
            elif not re.fullmatch(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", value.strip()):
                category = "bad_value"
            else:
                key = (rec["equipment_id"], rec["metric"], ts)
                category = "duplicate" if key in keys else "clean"
                keys.add(key)
            by_day.setdefault(day.isoformat(), Counter())[category] += 1
    return {"by_day": by_day, "rejected": rejected, "resent": resent, "no_offset": no_offset}


def test_same_seed_same_bytes_and_mtimes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    ma, mb, mc = _generate(a, **TINY), _generate(b, **TINY), _generate(c, seed=8, **TINY)
    assert ma == mb
    assert _tree(a / "landing") == _tree(b / "landing")
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    assert ma["expected"] != mc["expected"]
    assert _tree(a / "landing") != _tree(c / "landing")


def test_manifest_identities_overall_and_per_day(province: tuple[Path, dict]) -> None:
    _, m = province
    exp = m["expected"]
    for scope in ("by_day", "by_batch_day"):
        assert sum(e["landed"] for e in m[scope].values()) == exp["landed"]
        for day, e in m[scope].items():
            assert e["landed"] == e["clean"] + e["duplicates"] + sum(e["quarantined"].values()), (scope, day)
    assert exp["landed"] == exp["clean"] + exp["duplicates"] + sum(exp["quarantined"].values())
    d = m["defects"]
    assert exp["flags"] == {
        "bad": d["out_of_range"] + 9 * d["stuck_sensor"],
        "uncertain": d["meter_reset"] + d["meter_rollover"],
    }
    assert exp["duplicates"] == d["exact_duplicate"]
    assert exp["quarantined"]["late_beyond_watermark"] == d["late_beyond_watermark"]
    assert m["files"]["rejected"] == {"empty_file": 1, "unreadable_parquet": 1, "missing_columns": 1}
    assert all(d[k] > 0 for k in d if k not in ("empty_file",)), d
    # Every cell of the grid is either sent once or missing (a gap).
    cells = m["master"]["series"] * 96 * SMALL["days"]
    assert exp["clean"] + sum(exp["quarantined"].values()) - d["late_beyond_watermark"] == cells - d["gaps"]


def test_files_confirm_the_manifest(province: tuple[Path, dict]) -> None:
    root, m = province
    got = _recount(root / "landing")
    assert got["rejected"] == Counter(m["files"]["rejected"])
    assert got["resent"] == m["files"]["resent"]
    assert got["no_offset"] == m["expected"]["local_time_no_offset"]
    assert sum(sum(c.values()) for c in got["by_day"].values()) == m["expected"]["landed"]
    assert set(got["by_day"]) == set(m["by_day"])
    for day, counts in got["by_day"].items():
        want = m["by_day"][day]
        assert sum(counts.values()) == want["landed"], day
        assert counts["clean"] == want["clean"], day
        assert counts["duplicate"] == want["duplicates"], day
        assert {r: counts[r] for r in want["quarantined"]} == want["quarantined"], day


def test_mtimes_drop_after_local_midnight(province: tuple[Path, dict]) -> None:
    root, m = province
    files = [p for p in (root / "landing" / "telemetry").rglob("*") if p.is_file()]
    assert len(files) == m["files"]["written"]
    for p in files:
        day = dt.date.fromisoformat(p.parent.name)
        mtime = dt.datetime.fromtimestamp(p.stat().st_mtime_ns / 1e9, TZ)
        drop = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 20), tzinfo=TZ)
        assert drop <= mtime < drop + dt.timedelta(minutes=31), p
        assert p.name.startswith(p.parent.parent.name + "_" + f"{day:%Y%m%d}")
    for p in files:
        if "_resent" in p.stem:
            original = p.with_name(p.name.replace("_resent", ""))
            assert original.read_bytes() == p.read_bytes()
            assert original.stat().st_mtime_ns == p.stat().st_mtime_ns


def test_landing_contract_formats(province: tuple[Path, dict]) -> None:
    root, _ = province
    telemetry = root / "landing" / "telemetry"
    assert {p.suffix for p in telemetry.rglob("*") if p.is_file()} == {".csv", ".jsonl", ".parquet"}
    parquet = next(p for p in sorted(telemetry.rglob("*.parquet")) if "_retry" not in p.name)
    assert pl.read_parquet(parquet).columns == FIELDS
    jsonl = next(p for p in sorted(telemetry.rglob("*.jsonl")) if "_retry" not in p.name)
    values = []
    for line in jsonl.read_text().splitlines():
        try:
            values.append(json.loads(line)["value"])
        except ValueError:
            continue  # a malformed line
    numbers = [v for v in values if isinstance(v, int | float)]
    assert len(numbers) > 0.9 * len(values)
    assert not any(isinstance(v, str) and re.fullmatch(r"-?\d+(\.\d+)?", v) for v in values)
    raw = [p.read_bytes() for p in telemetry.rglob("*.csv")]
    assert any(b.startswith(b"\xef\xbb\xbf") for b in raw)
    gbk = [b for b in raw if b"remark" in b.split(b"\n", 1)[0]]
    assert gbk and all("正常".encode("gb18030") in b for b in gbk)


def test_clean_province_has_no_defects(tmp_path: Path) -> None:
    m = _generate(tmp_path, defect_rate=0.0, **TINY)
    assert not any(m["defects"].values())
    assert m["files"]["resent"] == 0 and not any(m["files"]["rejected"].values())
    exp = m["expected"]
    assert exp["landed"] == exp["clean"] == m["master"]["series"] * 96 * TINY["days"]
    assert exp["duplicates"] == 0 and not any(exp["quarantined"].values())
    assert exp["flags"] == {"bad": 0, "uncertain": 0}
    assert m["files"]["written"] == m["master"]["sites"] * TINY["days"]
    got = _recount(tmp_path / "landing")
    assert {k for c in got["by_day"].values() for k in c} == {"clean"}
    assert sorted(got["by_day"]) == [(START + dt.timedelta(days=i)).isoformat() for i in range(TINY["days"])]
    # Clean values stay within the metric's physical range.
    frame = pl.concat(
        [pl.read_parquet(p) for p in sorted((tmp_path / "landing" / "telemetry").rglob("*.parquet"))]
    )
    low = frame["metric"].replace_strict({k: float(v.low) for k, v in METRICS.items()})
    high = frame["metric"].replace_strict({k: float(v.high) for k, v in METRICS.items()})
    value = frame["value"].cast(pl.Float64)
    assert ((value >= low) & (value <= high)).all()
    assert (frame["unit"] == frame["metric"].replace_strict({k: v.unit for k, v in METRICS.items()})).all()


def test_master_data(province: tuple[Path, dict]) -> None:
    root, m = province
    master = root / "landing" / "master"
    ent = pl.read_parquet(master / "enterprises.parquet")
    eq = pl.read_parquet(master / "equipment.parquet")
    sites = pl.read_parquet(master / "sites.parquet")
    assert ent.height == m["master"]["enterprises"] and eq.height == m["master"]["equipment"]
    assert all(is_valid_uscc(u) for u in ent["uscc"])
    assert ent["uscc"].is_unique().all() and ent["name"].is_unique().all()
    assert all(u[2:8] == d for u, d in zip(ent["uscc"], ent["division_code"], strict=True))
    assert all(
        d[:4] == c and c in CITIES for d, c in zip(ent["division_code"], ent["city_code"], strict=True)
    )
    assert set(ent["industry_code"]) <= set(INDUSTRIES)
    assert all(n.endswith("公司") for n in ent["name"])
    assert eq["equipment_id"].is_unique().all()
    assert set(eq["equipment_type"]) <= set(EQUIPMENT_TYPES)
    assert all(
        eq["metrics"]
        == eq["equipment_type"].replace_strict({k: ",".join(v) for k, v in EQUIPMENT_TYPES.items()})
    )
    per_site = eq.group_by("site_id").len()["len"]
    assert per_site.min() >= 2 and per_site.max() <= 8
    assert sites.height == ent.height and set(sites["uscc"]) == set(ent["uscc"])
    assert set(eq["site_id"]) == set(sites["site_id"])
    assert (eq["rated_power_kw"] > 0).all()


def test_all_cities_and_heavy_industry() -> None:
    prov = build_province(40, np.random.default_rng(3))
    cities = Counter(prov.enterprises["city_code"])
    assert set(cities) == set(CITIES)
    heavy = prov.enterprises["industry_code"].is_in(["25", "26", "28", "29", "31", "32", "44"]).sum()
    assert heavy >= 10


def test_refuses_a_landing_that_already_holds_files(province: tuple[Path, dict]) -> None:
    root, _ = province
    with pytest.raises(FileExistsError):
        _generate(root)


def test_register_codes_are_valid_except_the_injected_code_defects(province: tuple[Path, dict]) -> None:
    """Every register row's USCC and resident ID pass the code standards unless the row carries one of
    CODE_DEFECTS, and then it fails with exactly that reason; some IDs name a district created after the
    birth year (valid: IDs carry the code current when issued)."""
    import csv
    import io

    from simulator.register import CODE_DEFECTS
    from warehouse.codes import division_periods, resident_id_problem, uscc_problem

    root, m = province
    seen: dict[str, int] = {}
    later_district = 0
    for path in sorted((root / "landing" / "registry").glob("*.csv")):
        rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("gb18030"))))
        for r in rows:
            uscc, rid = r["统一社会信用代码"], r["法定代表人证件号码"]
            kind = next((k for k in CODE_DEFECTS if f"问题数据{k}" in r["企业名称"]), None)
            problem = uscc_problem(uscc) or resident_id_problem(rid)
            if kind is not None:
                assert problem == CODE_DEFECTS[kind]
                seen[kind] = seen.get(kind, 0) + 1
            elif "问题数据" not in r["企业名称"]:
                assert problem in (None, "uscc_check_char")  # the typo'd enterprise
            periods = division_periods(rid[:6])
            later_district += bool(periods) and all((s or 0) > int(rid[6:10]) for s, _, _ in periods)
    assert seen == {k: 2 for k in CODE_DEFECTS}
    assert later_district > 0
    for reason in set(CODE_DEFECTS.values()):
        assert m["registry"]["quarantined"][reason] == 2 * list(CODE_DEFECTS.values()).count(reason)


def test_feed_outages_are_declared_in_the_manifest(province: tuple[Path, dict]) -> None:
    feeds = province[1]["feeds"]
    assert feeds["outages"]["silent"] and feeds["outages"]["late"]
    assert set(feeds["outages"]["silent"]) <= set(feeds["silent"])
    assert set(feeds["outages"]["late"]) <= set(feeds["late"])
    assert (
        feeds["on_time"] + len(feeds["silent"]) + len(feeds["late"]) == province[1]["master"]["enterprises"]
    )
    assert feeds["at"].endswith("T23:50:00+08:00") and feeds["at"].startswith("2026-11-04")
