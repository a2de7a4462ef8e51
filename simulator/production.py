"""Production records of the simulated province: one row per production line and local day.

Lines are the ISA-95 lines of the equipment master data. Each enterprise makes one product in one unit
of output, chosen by its industry topic library. A clean record satisfies the OEE identities a correct
pipeline relies on (run <= planned, ideal cycle x total <= run, good <= total); defects break exactly
one of them, and the manifest says how many of each a correct pipeline has to quarantine or drop.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from pathlib import Path

import numpy as np

from simulator.files import drop_time
from simulator.formats import write_csv
from simulator.province import Province, industry_library
from warehouse.contracts import PRODUCTION_FIELDS as FIELDS

# Defect kind -> quarantine reason (quality.rules.PRODUCTION_ROW_RULES); "duplicate" is dropped, not quarantined.
PRODUCTION_DEFECTS: dict[str, str | None] = {
    "malformed": "production_malformed",
    "unknown_line": "unknown_line",
    "run_exceeds_planned": "run_exceeds_planned",
    "good_exceeds_total": "good_exceeds_total",
    "duplicate": None,
}
# Product, unit of output and ideal cycle time range (seconds per unit) per topic library.
PRODUCTS: dict[str, tuple[str, str, float, float]] = {
    "chemicals": ("烧碱 caustic soda", "t", 40.0, 120.0),
    "metallurgy": ("热轧卷板 hot-rolled coil", "t", 6.0, 20.0),
    "machinery": ("减速机 gearbox", "pcs", 90.0, 600.0),
    "power_energy": ("蒸汽 steam", "t", 10.0, 40.0),
    "textiles": ("棉纱 cotton yarn", "t", 200.0, 600.0),
    "other": ("产品 product", "pcs", 20.0, 120.0),
}
_SHIFT_MINUTES = (1440, 960, 480)  # three, two or one shift(s)


def _clean_record(line: str, uscc: str, day: dt.date, library: str, rng: np.random.Generator) -> list:
    product, unit, lo, hi = PRODUCTS[library]
    planned = int(rng.choice(_SHIFT_MINUTES))
    run = int(planned * rng.uniform(0.70, 0.98))
    cycle = round(float(rng.uniform(lo, hi)), 1)
    total = int(rng.uniform(0.75, 0.97) * run * 60 / cycle)
    good = int(total * rng.uniform(0.95, 0.999))
    return [line, uscc, day.isoformat(), planned, run, cycle, total, good, product, unit]


def _break(record: list, kind: str, rng: np.random.Generator) -> list:
    """The record with one defect of `kind` (only that rule fails)."""
    r = list(record)
    if kind == "malformed":
        r[6] = "n/a"
    elif kind == "unknown_line":
        r[0] = f"{r[0].split('-')[0]}-A9-L9"
    elif kind == "run_exceeds_planned":
        r[4] = r[3] + int(rng.integers(5, 120))  # a badly closed shift log: more run than plan
    elif kind == "good_exceeds_total":
        r[7] = r[6] + int(rng.integers(1, 50))
    return r


def write_production(
    landing: Path, prov: Province, *, start: dt.date, days: int, defect_rate: float, rng: np.random.Generator
) -> dict:
    """Write landing/production/<YYYY-MM-DD>.csv per local day; return manifest["production"]."""
    folder = landing / "production"
    folder.mkdir(parents=True, exist_ok=True)
    lines = prov.equipment.select("line_id", "uscc").unique(maintain_order=True)
    library = dict(
        zip(
            prov.enterprises["uscc"],
            (industry_library(c) for c in prov.enterprises["industry_code"]),
            strict=True,
        )
    )
    records = [
        (d, _clean_record(line, uscc, start + dt.timedelta(days=d), library[uscc], rng))
        for d in range(days)
        for line, uscc in lines.iter_rows()
    ]
    # Every defect class at least once, else at the defect rate; each on a distinct record (fewer if too few).
    per_kind = max(1, round(defect_rate * len(records)))
    picks = rng.permutation(len(records))[: per_kind * len(PRODUCTION_DEFECTS)]
    kind_of = {
        int(i): kind for i, kind in zip(picks, np.repeat(list(PRODUCTION_DEFECTS), per_kind), strict=False)
    }
    by_day: dict[str, Counter] = {}
    rows_by_day: dict[int, list] = {d: [] for d in range(days)}
    for i, (d, rec) in enumerate(records):
        kind = kind_of.get(i)
        c = by_day.setdefault(rec[2], Counter())
        if kind == "duplicate":
            rows_by_day[d] += [rec, rec]
            c["landed"] += 2
            c["clean"] += 1
            c["duplicates"] += 1
            continue
        rows_by_day[d].append(_break(rec, kind, rng) if kind else rec)
        c["landed"] += 1
        c[PRODUCTION_DEFECTS[kind] if kind else "clean"] += 1
    for d, rows in rows_by_day.items():
        path = folder / f"{(start + dt.timedelta(days=d)).isoformat()}.csv"
        write_csv(path, FIELDS, rows)
        mtime = drop_time(start, d, 600)
        os.utime(path, ns=(mtime, mtime))
    reasons = [r for r in PRODUCTION_DEFECTS.values() if r]
    totals = Counter()
    for c in by_day.values():
        totals.update(c)
    return {
        "lines": lines.height,
        "landed": totals["landed"],
        "clean": totals["clean"],
        "duplicates": totals["duplicates"],
        "quarantined": {r: totals[r] for r in reasons},
        "by_day": {
            day: {
                "landed": c["landed"],
                "clean": c["clean"],
                "duplicates": c["duplicates"],
                "quarantined": {r: c[r] for r in reasons},
            }
            for day, c in sorted(by_day.items())
        },
        "units": dict(sorted(Counter(PRODUCTS[lib][1] for lib in library.values()).items())),
    }
