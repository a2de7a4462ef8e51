"""Declared supplier links: each enterprise names a few suppliers along its industry chain.

landing/supply/supplier_links.csv (UTF-8): buyer_uscc, supplier_uscc, material, annual_value_10k_cny,
declared_on. Suppliers are drawn from the simulated enterprises whose division is upstream of the
buyer's (warehouse.domain.INDUSTRY_CHAIN); a few name a supplier outside the province's register (kept
and flagged by the pipeline, not dropped). Ground truth: the links written and those unknown suppliers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from pathlib import Path

import numpy as np
import polars as pl

from assets.industry.supply_chain import SUPPLIER_LINKS
from warehouse.codes import make_uscc
from warehouse.domain import INDUSTRIES, INDUSTRY_CHAIN

HEADER = ("buyer_uscc", "supplier_uscc", "material", "annual_value_10k_cny", "declared_on")
MAX_SUPPLIERS = 3


def write_supplier_links(
    landing: Path,
    enterprises: pl.DataFrame,
    golden_usccs: list[str],
    *,
    start: dt.date,
    rng: np.random.Generator,
) -> dict:
    by_division: dict[str, list[str]] = {}
    for uscc, division in enterprises.select("uscc", "industry_code").iter_rows():
        by_division.setdefault(division, []).append(uscc)
    rows = []
    for buyer, division in enterprises.select("uscc", "industry_code").iter_rows():
        candidates = [
            u for d in INDUSTRY_CHAIN.get(division, ()) for u in by_division.get(d, []) if u != buyer
        ]
        picks = (
            list(rng.choice(candidates, size=min(MAX_SUPPLIERS, len(candidates)), replace=False))
            if candidates
            else []
        )
        if rng.random() < 0.05:  # a supplier from outside the province's register
            picks.append(make_uscc("110105", f"MA{int(rng.integers(10**5, 10**6))}"))
        for supplier in picks:
            supplier_division = next((d for d, us in by_division.items() if supplier in us), None)
            material = INDUSTRIES.get(supplier_division, "goods") if supplier_division else "goods"
            declared = start - dt.timedelta(days=int(rng.integers(30, 400)))
            rows.append(
                (buyer, str(supplier), material, f"{float(rng.gamma(2.0, 800.0)):.2f}", declared.isoformat())
            )
    folder = landing / "supply"
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path = folder / SUPPLIER_LINKS
    path.write_text(buf.getvalue(), encoding="utf-8")
    stamp = int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp() * 1e9) - 86_400 * 10**9
    os.utime(path, ns=(stamp, stamp))
    golden = set(golden_usccs)  # simulated enterprises missing from the register count as unknown too
    return {
        "links": len({(r[0], r[1]) for r in rows}),
        "unknown_suppliers": len({(r[0], r[1]) for r in rows if r[1] not in golden}),
        "buyers": len({r[0] for r in rows}),
    }
