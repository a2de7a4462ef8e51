"""The market-regulation register exports of the simulated province, with the defects real exports carry.

One clean register entry per enterprise (`build_register`); an export (`export_rows`) adds typo'd USCCs,
duplicate rows, bogus rows and one row per code-standard defect of `CODE_DEFECTS`, and says what a correct
reader must quarantine; `write_register` writes it as GB18030 CSV with mixed date formats and stray
spaces or full-width characters in names; `change_register` makes the later export in which some
enterprises moved or changed industry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from warehouse.codes import (
    USCC_CHARSET,
    city_of_division,
    current_districts,
    id_check_char,
    make_uscc,
    resident_id_problem,
    shandong_city,
    uscc_check_char,
    uscc_problem,
)
from warehouse.contracts import REGISTER_COLUMNS
from warehouse.domain import CITIES, INDUSTRIES

STATUS_ACTIVE, STATUS_DEREGISTERED = "存续", "注销"
# Code-standard defects, one register row each per export: kind -> the quarantine reason it must get.
CODE_DEFECTS: dict[str, str] = {
    "uscc_authority": "uscc_authority",  # registration authority G (not in GB 32100)
    "uscc_institution_type": "uscc_institution_type",  # authority 9 (market regulation) with type 5
    "uscc_division": "uscc_division",  # positions 3-8 not a GB/T 2260 division
    "id_format": "id_format",  # a letter among the resident ID's three sequence digits
    "id_region": "id_region",  # resident ID with a division that never existed
    "id_birth_date": "id_birth_date",  # born 1899-12-31, before 1900
    "id_birth_impossible": "id_birth_date",  # born 1978-13-45: no such date
    "id_birth_future": "id_birth_date",  # born 2099-12-31: after today
    "id_check_char": "id_check_char",  # last character changed
}
# The birth date each birth-date defect carries (the region, sequence and check character stay right).
_BAD_BIRTH_DATES = {
    "id_birth_date": "18991231",
    "id_birth_impossible": "19781345",
    "id_birth_future": "20991231",
}

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰海燕鹏辉"
_ROADS = (
    "工业路",
    "经十路",
    "北园大街",
    "滨河路",
    "开发区大道",
    "化工园区一路",
    "黄河路",
    "泰山路",
    "长江路",
)


def _person(rng: np.random.Generator) -> str:
    n = 1 + int(rng.random() < 0.7)
    return _SURNAMES[int(rng.integers(len(_SURNAMES)))] + "".join(
        _GIVEN[int(rng.integers(len(_GIVEN)))] for _ in range(n)
    )


def _phone(rng: np.random.Generator) -> str:
    return "1" + str(int(rng.choice([3, 5, 7, 8, 9]))) + "".join(str(int(d)) for d in rng.integers(0, 10, 9))


def _resident_id(uscc: str, division: str) -> str:
    """A valid GB 11643 number for the legal representative, derived from the USCC (no draw from the
    generator, so adding it changed no other simulated value)."""
    h = int(hashlib.sha256(f"id:{uscc}".encode()).hexdigest(), 16)
    born = dt.date(1955, 1, 1) + dt.timedelta(days=h % (365 * 45))
    first17 = f"{division}{born:%Y%m%d}{(h >> 64) % 1000:03d}"
    return first17 + id_check_char(first17)


def _address(city: str, rng: np.random.Generator) -> str:
    return f"山东省{CITIES[city].split()[0]}市{_ROADS[int(rng.integers(len(_ROADS)))]}{int(rng.integers(1, 999))}号"


def _date_text(d: dt.date, rng: np.random.Generator) -> str:
    """The register's mixed date formats: 2020/1/5, 2020-01-05, 20200105."""
    style = int(rng.integers(3))
    return (f"{d.year}/{d.month}/{d.day}", d.isoformat(), d.strftime("%Y%m%d"))[style]


def name_variant(name: str, rng: np.random.Generator) -> str:
    """Stray spaces or full-width characters a clerk typed; NFKC + whitespace removal undoes them."""
    k = int(rng.integers(3))
    if k == 0:
        return f" {name[:2]} {name[2:]} "
    if k == 1:
        return name[:2] + "\u3000" + name[2:]  # ideographic (full-width) space
    return "\u3000" + name + " "


def _mutate_check_char(uscc: str) -> str:
    bad = USCC_CHARSET[(USCC_CHARSET.index(uscc[17]) + 7) % 31]
    return uscc[:17] + bad


def _mutate_org_code(uscc: str) -> str:
    """Change the organization code's own check digit (position 17 of the USCC)."""
    org_check = uscc[16]
    alt = "0123456789X"
    bad = alt[(alt.index(org_check) + 3) % 11] if org_check in alt else "1"
    return uscc[:16] + bad + uscc[17]


def _extra_enterprises(n: int, taken: set[str], rng: np.random.Generator) -> list[dict]:
    """Registered enterprises that are not connected to the telemetry collection."""
    cities, out = list(CITIES), []
    while len(out) < n:
        city = cities[int(rng.integers(len(cities)))]
        districts = current_districts(city)
        division = districts[int(rng.integers(2, 14)) % len(districts)]
        uscc = make_uscc(division, "MA" + "".join(rng.choice(list(USCC_CHARSET), size=6)))
        if uscc in taken:
            continue
        taken.add(uscc)
        industry = list(INDUSTRIES)[int(rng.integers(len(INDUSTRIES)))]
        out.append(
            {
                "uscc": uscc,
                "name": f"山东新登记{len(out) + 1:03d}号实业有限公司",
                "city_code": city,
                "division_code": division,
                "industry_code": industry,
            }
        )
    return out


def build_register(enterprises: pl.DataFrame, rng: np.random.Generator) -> list[dict]:
    """One clean register entry per enterprise (connected ones first, then unconnected ones)."""
    rows = []
    base = enterprises.select("uscc", "name", "city_code", "division_code", "industry_code").to_dicts()
    extras = _extra_enterprises(max(2, len(base) // 10), set(enterprises["uscc"]), rng)
    for i, e in enumerate(base + extras):
        established = dt.date(1995, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365 * 29)))
        region = e["division_code"]
        if e["city_code"] == "3701" and established.year < 2019 and rng.random() < 0.6:
            region = ("371202", "371203")[int(region[4:]) % 2]  # registered in Laiwu before the 2019 merger
        rows.append(
            {
                "uscc": e["uscc"],
                "name": e["name"],
                "legal_representative": _person(rng),
                "phone": _phone(rng),
                "legal_representative_id": _resident_id(e["uscc"], e["division_code"]),
                "address": _address(e["city_code"], rng),
                "region_code": region,
                "industry_code": e["industry_code"],
                "registered_capital": float(round(float(rng.uniform(50, 50_000)), 2)),
                "status": STATUS_DEREGISTERED if i >= len(base) and i % 2 == 0 else STATUS_ACTIVE,
                "established": established,
                "connected": i < len(base),
            }
        )
    return rows


def _bogus(kind: str, n: int, rng: np.random.Generator) -> dict:
    division = "370102"
    uscc = make_uscc(division, "MB" + "".join(rng.choice(list(USCC_CHARSET), size=6)))
    row = {
        "uscc": uscc,
        "name": f"山东问题数据{kind}{n}有限公司",
        "legal_representative": _person(rng),
        "phone": _phone(rng),
        "legal_representative_id": _resident_id(uscc, division),
        "address": _address("3701", rng),
        "region_code": division,
        "industry_code": "26",
        "registered_capital": 100.0,
        "status": STATUS_ACTIVE,
        "established": dt.date(2015, 3, 1),
        "connected": False,
    }
    if kind == "org":
        row["uscc"] = _mutate_org_code(uscc)
    elif kind == "region":
        row["region_code"] = "110105"
    elif kind == "industry":
        row["industry_code"] = "99"
    return row


def _code_defect(kind: str, n: int, tag: str) -> dict:
    """One register row with exactly one code-standard defect (the other checks pass), drawn from its own
    generator so the export's other rows stay as they were."""
    sub = np.random.default_rng([22, n, int(hashlib.sha256(tag.encode()).hexdigest()[:8], 16)])
    row = _bogus(kind, n, sub)
    uscc, rid = row["uscc"], row["legal_representative_id"]
    if kind == "uscc_authority":
        uscc = "G" + uscc[1:17]
    elif kind == "uscc_institution_type":
        uscc = uscc[0] + "5" + uscc[2:17]
    elif kind == "uscc_division":
        uscc = uscc[:2] + "379999" + uscc[8:17]
    elif kind == "id_region":
        rid = "379999" + rid[6:17]
    elif kind in _BAD_BIRTH_DATES:
        rid = rid[:6] + _BAD_BIRTH_DATES[kind] + rid[14:17]
    if kind.startswith("uscc_"):
        uscc += uscc_check_char(uscc)
    elif kind == "id_format":
        rid = rid[:16] + "A" + rid[17]
    elif kind == "id_check_char":
        rid = rid[:17] + "10X98765432"[("10X98765432".index(rid[17]) + 5) % 11]
    else:
        rid += id_check_char(rid)
    return row | {"uscc": uscc, "legal_representative_id": rid, "name": f"山东问题数据{kind}{n}有限公司"}


def write_register(path: Path, rows: list[dict], rng: np.random.Generator, bad_date: set[int]) -> dict:
    """Write one export in GB18030; return what a correct reader must find in it."""
    lines = [",".join(REGISTER_COLUMNS)]
    tally: Counter = Counter()
    for i, r in enumerate(rows):
        name = r["name"]
        if rng.random() < 0.15:
            name = name_variant(name, rng)
            tally["names_normalized"] += name != r["name"]
        date = "2020-13-45" if i in bad_date else _date_text(r["established"], rng)
        cells = [
            r["uscc"],
            name,
            r["legal_representative"],
            r["phone"],
            r["legal_representative_id"],
            r["address"],
            r["region_code"],
            r["industry_code"],
            f"{r['registered_capital']:.2f}",
            r["status"],
            date,
        ]
        lines.append(",".join(f'"{c}"' if "," in c else c for c in cells))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gb18030"))
    return dict(tally)


def _expected_reason(row: dict, bad_date: bool) -> str | None:
    problem = uscc_problem(row["uscc"])
    if problem:
        return problem
    if shandong_city(row["region_code"]) is None:
        return "region_invalid"
    if row["industry_code"] not in INDUSTRIES:
        return "industry_invalid"
    if bad_date:
        return "date_invalid"
    if row["legal_representative_id"]:
        return resident_id_problem(row["legal_representative_id"])
    return None


def export_rows(
    register: list[dict], typo: set[str], rng: np.random.Generator, tag: str
) -> tuple[list[dict], set[int], dict]:
    """Rows of one export: the register (typo'd USCCs), duplicates and bogus rows, shuffled."""
    rows = [dict(r, uscc=_mutate_check_char(r["uscc"])) if r["uscc"] in typo else dict(r) for r in register]
    n_dup = max(1, len(register) // 15)
    dup_idx = rng.choice(len(register), size=n_dup, replace=False)
    dups = [
        dict(rows[int(i)])
        for i in dup_idx
        if rows[int(i)]["uscc"] not in {_mutate_check_char(t) for t in typo}
    ]
    bogus = [_bogus(k, j, rng) for j, k in enumerate(("org", "org", "region", "industry", "date"))]
    rows = rows + dups + bogus
    order = rng.permutation(len(rows))
    rows = [rows[int(i)] for i in order]
    place = np.random.default_rng([22, len(rows)])
    for j, kind in enumerate(CODE_DEFECTS):
        rows.insert(int(place.integers(len(rows) + 1)), _code_defect(kind, j, tag))
    bad_date = {i for i, r in enumerate(rows) if r["name"].startswith("山东问题数据date")}
    reasons: Counter = Counter()
    for i, r in enumerate(rows):
        reason = _expected_reason(r, i in bad_date)
        if reason:
            reasons[reason] += 1
    return rows, bad_date, {"rows": len(rows), "duplicates": len(dups), "quarantined": dict(reasons)}


def change_register(register: list[dict], rng: np.random.Generator) -> tuple[list[dict], list[dict]]:
    """The later export: some connected enterprises moved (address) or changed their industry."""
    later = [dict(r) for r in register]
    connected = [i for i, r in enumerate(register) if r["connected"]]
    n = min(len(connected), max(2, len(connected) // 8))
    changes = []
    for k, i in enumerate(rng.choice(connected, size=n, replace=False)):
        r = later[int(i)]
        if k % 2 == 0:
            codes = [c for c in INDUSTRIES if c != r["industry_code"]]
            r["industry_code"] = codes[int(rng.integers(len(codes)))]
            changes.append({"uscc": r["uscc"], "field": "industry_code", "to": r["industry_code"]})
        else:
            city = city_of_division(r["region_code"]) or "3701"
            r["address"] = _address(city, rng) + "B座"
            changes.append({"uscc": r["uscc"], "field": "address", "to": r["address"]})
    return later, changes
