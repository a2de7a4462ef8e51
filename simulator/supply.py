"""Declared supplier links: each enterprise names a few suppliers along its industry chain.

landing/supply/supplier_links.csv (UTF-8): buyer_uscc, supplier_uscc, material, annual_value_10k_cny,
declared_on. Suppliers are drawn from the simulated enterprises whose division is upstream of the
buyer's (warehouse.domain.INDUSTRY_CHAIN); a few name a supplier outside the province's register (kept
and flagged by the pipeline, not dropped). Ground truth: the links written and those unknown suppliers.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import numpy as np
import polars as pl

from simulator.formats import write_csv
from warehouse.codes import make_uscc
from warehouse.contracts import SUPPLIER_LINKS_FILE
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
    path = folder / SUPPLIER_LINKS_FILE
    write_csv(path, HEADER, rows)
    stamp = int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp() * 1e9) - 86_400 * 10**9
    os.utime(path, ns=(stamp, stamp))
    golden = set(golden_usccs)  # simulated enterprises missing from the register count as unknown too
    return {
        "links": len({(r[0], r[1]) for r in rows}),
        "unknown_suppliers": len({(r[0], r[1]) for r in rows if r[1] not in golden}),
        "buyers": len({r[0] for r in rows}),
    }


def _reach(adjacency: dict[str, set[str]], starts: list[str], limit: int | None = None) -> dict[str, int]:
    """Fewest hops from any start to every node reached (starts excluded), breadth first."""
    seen = {s: 0 for s in starts}
    frontier = list(starts)
    hops = 0
    while frontier and (limit is None or hops < limit):
        hops += 1
        nxt = []
        for node in frontier:
            for other in sorted(adjacency.get(node, ())):
                if other not in seen:
                    seen[other] = hops
                    nxt.append(other)
        frontier = nxt
    return {n: h for n, h in seen.items() if n not in starts}


def supply_graph_truth(
    path: Path, *, city_of: dict[str, str], industry_of: dict[str, str], golden: list[str], hops: int = 3
) -> dict:
    """Ground truth for the knowledge graph's supply queries, from the declarations as written.

    One edge per (buyer, supplier) (a re-declaration updates it), supplier -> buyer. `city_of` and
    `industry_of` are the golden record's current values; an enterprise outside it has no city (it
    never stops with one) and industry 'unknown'.
    """
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    down: dict[str, set[str]] = {}
    up: dict[str, set[str]] = {}
    for r in rows:
        down.setdefault(r["supplier_uscc"], set()).add(r["buyer_uscc"])
        up.setdefault(r["buyer_uscc"], set()).add(r["supplier_uscc"])
    nodes = sorted(set(down) | set(up))
    golden_set = set(golden)

    def ranked(adjacency: dict[str, set[str]]) -> list[str]:
        sizes = {n: len(_reach(adjacency, [n], hops)) for n in nodes if n in golden_set}
        return sorted(sizes, key=lambda n: (-sizes[n], n))[:3]

    def listing(reached: dict[str, int]) -> dict[str, int]:
        return dict(sorted(reached.items()))

    supplier = ranked(down)[0] if nodes else None
    exposed = _reach(down, [supplier]) if supplier else {}
    cities = sorted(
        {city_of[u] for u in nodes if u in golden_set},
        key=lambda c: (-sum(1 for u in nodes if u in golden_set and city_of[u] == c), c),
    )
    city = cities[0] if cities else None
    stopped = sorted(u for u in golden if city_of.get(u) == city)
    city_exposed = _reach(down, stopped)
    longest = (None, None, 0)
    for a in nodes:
        for b, d in _reach(down, [a]).items():
            if (d, a, b) > (longest[2], longest[0] or "", longest[1] or "") and d > longest[2]:
                longest = (a, b, d)

    def industries(reached: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for u in reached:
            code = industry_of.get(u, "unknown") if u in golden_set else "unknown"
            out[code] = out.get(code, 0) + 1
        return dict(sorted(out.items()))

    return {
        "hops": hops,
        "edges": sum(len(v) for v in down.values()),
        "upstream": {u: listing(_reach(up, [u], hops)) for u in ranked(up)},
        "downstream": {u: listing(_reach(down, [u], hops)) for u in ranked(down)},
        "exposure_supplier": {
            "supplier": supplier,
            "enterprises": listing(exposed),
            "industries": industries(exposed),
        },
        "exposure_city": {
            "city": city,
            "stopped": len(stopped),
            "enterprises": listing(city_exposed),
            "industries": industries(city_exposed),
        },
        "shortest_path": {"from": longest[0], "to": longest[1], "hops": longest[2]},
    }
