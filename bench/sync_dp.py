"""Differential privacy on a built province: how many energy cells a day releases, and how far off the noisy ones are.

`python -m bench.sync_dp HOME [--epsilon 1] [--repeats 200]` reads HOME's theme tables (the demo home of
`lakehouse demo`: 60 enterprises, 7 days) through DuckDB views over the lake, and for every day applies
the release policy, then the noise exactly as a sync with DP on does (`assets/sync/noise.py`, a fresh
budget per day), `repeats` times. A cell counts when at least one enterprise reported energy in it; it is
released when its energy sums go out, exact or noisy. The relative error of a noisy value is
|noisy - exact| / exact, over the cells whose exact value is > 0, averaged over cells, repeats and days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
from pathlib import Path


def measure(home: Path, epsilon: float, repeats: int) -> dict:
    import duckdb
    import polars as pl

    from assets.sync import noise
    from assets.sync.aggregate import aggregate_day
    from assets.sync.release import release
    from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY
    from warehouse.serving.contents import view_sql
    from warehouse.serving.delta import DELTA_EXTENSION
    from warehouse.settings import SyncPrivacy
    from warehouse.storage import Lake

    lake = Lake(home / "lake")
    con = duckdb.connect()
    con.execute(f"LOAD '{DELTA_EXTENSION}'")
    con.execute("CREATE SCHEMA theme")
    for spec in (ENERGY_DAILY, EQUIPMENT_DAILY):
        con.execute(view_sql(spec, lake))
    privacy = SyncPrivacy(epsilon, budget=epsilon)
    measures = ("energy_tce", "electricity_kwh")
    days, errors = [], {m: [] for m in measures}
    for day in map(dt.date.fromisoformat, lake.partitions(ENERGY_DAILY)):
        agg = aggregate_day(con, day)
        plain = release(agg)
        contrib = noise.contributions(con, day)
        cells = agg.filter((pl.col("level") == "cell") & (pl.col("contributors") > 0))
        exact = plain.frame.join(
            cells.select("city_code", "industry_code"), on=["city_code", "industry_code"]
        )
        released_exact = int((~exact["suppressed"]).sum())
        noisy_cells = 0
        truth = cells.select("city_code", "industry_code", *measures)
        for _ in range(repeats):
            out = noise.add_noise(plain, contrib, privacy, spent={})
            noisy_cells = out.noisy_cells
            got = out.release.frame.filter(pl.col("noise").is_not_null()).join(
                truth, on=["city_code", "industry_code"], suffix="_exact"
            )
            for m in measures:
                ok = got.filter(pl.col(f"{m}_exact") > 0)
                errors[m].extend(((ok[m] - ok[f"{m}_exact"]).abs() / ok[f"{m}_exact"]).to_list())
        days.append(
            {
                "day": day.isoformat(),
                "cells": cells.height,
                "released_exact": released_exact,
                "released_noisy": noisy_cells,
            }
        )
    return {
        "home": str(home),
        "epsilon": epsilon,
        "repeats": repeats,
        "days": days,
        "cells_per_day": statistics.fmean(d["cells"] for d in days),
        "released_exact_per_day": statistics.fmean(d["released_exact"] for d in days),
        "released_with_dp_per_day": statistics.fmean(d["released_exact"] + d["released_noisy"] for d in days),
        "mean_relative_error": {m: statistics.fmean(v) for m, v in errors.items()},
        "median_relative_error": {m: statistics.median(v) for m, v in errors.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(measure(args.home, args.epsilon, args.repeats), indent=1))


if __name__ == "__main__":
    main()
