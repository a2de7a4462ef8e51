"""The industry department's roster of key enterprises (`landing/registry/key_enterprises.xlsx`).

A title row, the header on row 3 and one row per DCMM assessment (GB/T 36073), with the USCC sometimes
missing or an old 15-digit registration number, assessment dates partly Excel serials, and fields that
disagree with the register. Same seed, same bytes: zip entry times and core properties are fixed.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import openpyxl

from simulator.register import name_variant
from warehouse.contracts import ROSTER_COLUMNS

ROSTER_SHEET = "重点企业名单"
_EXCEL_EPOCH = dt.date(1899, 12, 30)


def _excel_serial(d: dt.date) -> int:
    return (d - _EXCEL_EPOCH).days


def write_roster(
    path: Path,
    register: list[dict],
    key_users: dict[str, bool],
    typo: set[str],
    rng: np.random.Generator,
    stamp: dt.datetime,
) -> dict:
    """The key-enterprise roster: title row, header on row 3, one row per DCMM assessment."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = ROSTER_SHEET
    ws.append([f"{stamp.year}年山东省重点工业企业名单（工业和信息化厅）"])
    ws.append([])
    ws.append(list(ROSTER_COLUMNS))
    tally: Counter = Counter()
    latest_levels: dict[str, int] = {}
    assessments = 0
    candidates = [r for r in register if r["connected"] and r["uscc"] not in typo]
    for r in candidates:
        key = key_users[r["uscc"]]
        if not key and rng.random() > 0.35:
            continue
        tally["enterprises"] += 1
        u = rng.random()
        if u < 0.6:
            code = r["uscc"]
        elif u < 0.8:
            code = None
            tally["matched_by_name"] += 1
        else:
            code = r["region_code"][:6] + "".join(str(int(d)) for d in rng.integers(0, 10, 9))  # old 15-digit
            tally["matched_by_name"] += 1
        name = r["name"]
        if code == r["uscc"] and rng.random() < 0.3:  # the roster still carries an older name
            name = name.replace("有限公司", "有限责任公司")
        industry = r["industry_code"]
        if code == r["uscc"] and rng.random() < 0.2:
            industry = "44" if industry != "44" else "26"
        tally["conflicts"] += (name != r["name"]) + (industry != r["industry_code"])
        if code is None and rng.random() < 0.4:
            name = name_variant(name, rng)
        n_assess = int(rng.choice([0, 1, 2], p=[0.25, 0.5, 0.25]))
        level_rows = []
        for a in range(max(n_assess, 1)):
            if a >= n_assess:
                level_rows.append([None] * 10)
                continue
            when = dt.date(2021 + a * 2, 1, 1) + dt.timedelta(days=int(rng.integers(0, 700)))
            scores = np.round(rng.uniform(1.0, 5.0, 8), 1)
            level = int(min(5, max(1, np.floor(scores.mean() + 0.5))))
            style = int(rng.integers(3))
            date_cell = (
                dt.datetime.combine(when, dt.time()),
                _excel_serial(when),
                f"{when.year}/{when.month}/{when.day}",
            )[style]
            tally["serial_dates"] += style == 1
            level_rows.append([date_cell, *[float(s) for s in scores], level])
            assessments += 1
            if a == n_assess - 1:
                latest_levels[r["uscc"]] = level
        for lr in level_rows:
            ws.append(
                [
                    name,
                    code,
                    r["region_code"],
                    industry,
                    ("一级", "二级", "三级")[int(rng.integers(3))],
                    "是" if key else "否",
                    *lr,
                ]
            )
    ws.append(["山东未登记新材料有限公司", None, "370302", "26", "三级", "否", None, *([None] * 9)])
    tally["roster_unmatched"] = 1
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "simulator"
    raw = io.BytesIO()
    wb.save(raw)
    _rezip(raw.getvalue(), path, stamp)
    return {
        "enterprises": tally["enterprises"],
        "rows": ws.max_row - 3,
        "assessments": assessments,
        "matched_by_name": tally["matched_by_name"],
        "conflicts": tally["conflicts"],
        "serial_dates": tally["serial_dates"],
        "quarantined": {"roster_unmatched": 1},
        "dcmm_level_ge_3": sum(1 for v in latest_levels.values() if v >= 3),
        "assessed_enterprises": len(latest_levels),
    }


def _rezip(data: bytes, path: Path, stamp: dt.datetime) -> None:
    """Same workbook, fixed zip entry times and core properties: same seed, same bytes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\3",
                    body,
                )
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(fixed, body)
