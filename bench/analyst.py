"""Analyst queries: a year of daily energy aggregates, queried through DuckDB.

The data is shaped like `theme.energy_daily` rolled up to city x industry x local day (16 x 24 x 365 rows
by default, random figures). It is written as a Delta table partitioned by day with one commit per day
(as daily `replace_partition` builds leave it) and as a single Parquet file. Roll-up queries are timed
through a DuckDB view over `delta_scan` (the serving layer's way, extension loaded from the PyPI
package), over `read_parquet` of the very same data files, and, to separate the cost of the Delta log
from that of 365 small files, over the same rows as one unpartitioned Delta commit and one Parquet file.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from pathlib import Path

from bench.data import READY, cached_build

YEAR_START = dt.date(2026, 1, 1)
SEED = 2026
BUILD_VERSION = 3  # bump when the cached data's layout changes
QUERIES: dict[str, str] = {
    "city_by_month": (
        "SELECT city_code, date_trunc('month', day) AS month, sum(energy_tce) AS energy_tce, "
        "sum(electricity_kwh) AS electricity_kwh, sum(equipment) AS equipment "
        "FROM {src} GROUP BY ALL ORDER BY ALL"
    ),
    "industry_by_week": (
        "SELECT industry_code, date_trunc('week', day) AS week, sum(energy_tce) AS energy_tce, "
        "max(peak_load_kw) AS peak_load_kw FROM {src} GROUP BY ALL ORDER BY ALL"
    ),
    "top10_cities_range": (
        "SELECT city_code, sum(energy_tce) AS energy_tce FROM {src} "
        "WHERE day BETWEEN DATE '2026-03-01' AND DATE '2026-05-31' "
        "GROUP BY city_code ORDER BY energy_tce DESC, city_code LIMIT 10"
    ),
}
SOURCES = ("delta_view", "serving_mart", "parquet_same_files", "delta_single_file", "parquet_single_file")


def build(root: Path, days: int) -> dict:
    """Write the year (Delta, one commit per day; and one Parquet file); cached under `root`."""
    import numpy as np
    import polars as pl
    from deltalake import write_deltalake

    from warehouse.domain import CITIES, INDUSTRIES, KGCE_PER_UNIT

    if (info := cached_build(root, days=days, version=BUILD_VERSION)) is not None:
        return info
    rng = np.random.default_rng(SEED)
    cities, industries = list(CITIES), list(INDUSTRIES)
    n_cells = len(cities) * len(industries)
    dates = [YEAR_START + dt.timedelta(days=d) for d in range(days)]
    n = n_cells * days
    kwh = rng.gamma(2.0, 40_000.0, n)
    gas = rng.gamma(1.5, 3_000.0, n) * (rng.random(n) < 0.6)
    coal = rng.gamma(1.2, 40.0, n) * (rng.random(n) < 0.3)
    frame = pl.DataFrame(
        {
            "day": np.repeat(np.array(dates, dtype="datetime64[D]"), n_cells),
            "city_code": np.tile(np.repeat(cities, len(industries)), days),
            "industry_code": np.tile(np.tile(industries, len(cities)), days),
            "equipment": rng.integers(5, 400, n),
            "electricity_kwh": kwh,
            "natural_gas_m3": gas,
            "coal_t": coal,
            "energy_tce": (
                kwh * KGCE_PER_UNIT["electricity"]
                + gas * KGCE_PER_UNIT["natural_gas"]
                + coal * KGCE_PER_UNIT["coal"]
            )
            / 1000,
            "peak_load_kw": rng.gamma(3.0, 2_000.0, n),
        }
    ).with_columns(pl.col("day").cast(pl.Date))
    delta = root / "energy_rollup_delta"
    t0 = time.perf_counter()
    for day, part in frame.group_by("day", maintain_order=True):
        write_deltalake(
            str(delta),
            part.to_arrow(),
            mode="overwrite",
            predicate=f"day = '{day[0].isoformat()}'",
            partition_by=["day"],
        )
    delta_seconds = time.perf_counter() - t0
    frame.write_parquet(root / "energy_rollup.parquet")
    # The same rows as one unpartitioned Delta commit: isolates the Delta log cost from the file count.
    write_deltalake(str(root / "energy_rollup_delta_single"), frame.to_arrow(), mode="overwrite")
    info = {
        "version": BUILD_VERSION,
        "rows": frame.height,
        "days": days,
        "cities": len(cities),
        "industries": len(industries),
        "delta_commits": days,
        "delta_files": len([p for p in delta.rglob("*.parquet") if "_delta_log" not in p.parts]),
        "delta_log_files": len(list((delta / "_delta_log").iterdir())),
        "delta_write_seconds": delta_seconds,
    }
    (root / READY).write_text(json.dumps(info, indent=1))
    return info


def _quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def analyst_task(spec: dict, steps) -> dict:
    import duckdb

    from warehouse.serving.delta import DELTA_EXTENSION

    root, days, runs = Path(spec["root"]), int(spec.get("days", 365)), int(spec.get("runs", 50))
    with steps.step("build"):
        info = build(root, days)
    delta = root / "energy_rollup_delta"
    con = duckdb.connect()
    with steps.step("load_extension"):
        con.execute(f"LOAD '{DELTA_EXTENSION}'")
    con.execute(f"CREATE VIEW delta_view AS SELECT * FROM delta_scan('{delta}')")
    con.execute(
        f"CREATE VIEW parquet_same_files AS SELECT * FROM read_parquet('{delta}/day=*/*.parquet', "
        "hive_partitioning = true, hive_types = {'day': DATE})"
    )
    con.execute(
        f"CREATE VIEW delta_single_file AS SELECT * FROM delta_scan('{root / 'energy_rollup_delta_single'}')"
    )
    con.execute(
        f"CREATE VIEW parquet_single_file AS SELECT * FROM read_parquet('{root / 'energy_rollup.parquet'}')"
    )
    # The serving layer's mart (warehouse.serving.contents.MARTS): the roll-up as a native table in a DuckDB file,
    # ordered by day, built from the Delta table once per change of its version.
    mart_db = root / "serving_mart.duckdb"
    mart_db.unlink(missing_ok=True)
    con.execute(f"ATTACH '{mart_db}' AS mart_file")
    with steps.step("build_mart"):
        con.execute(
            "CREATE TABLE mart_file.main.serving_mart AS SELECT * FROM delta_view "
            "ORDER BY day, city_code, industry_code"
        )
    con.execute("CREATE VIEW serving_mart AS SELECT * FROM mart_file.main.serving_mart")
    results: dict[str, dict[str, dict]] = {}
    for qname, sql in QUERIES.items():
        answers = {}
        for src in SOURCES:
            q = sql.format(src=src)
            answers[src] = con.execute(q).fetchall()  # warm-up, and the answer to compare
            con.execute(q).fetchall()
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                con.execute(q).fetchall()
                times.append(time.perf_counter() - t0)
            results.setdefault(qname, {})[src] = {
                "runs": runs,
                "p50_ms": 1000 * statistics.median(times),
                "p95_ms": 1000 * _quantile(times, 0.95),
                "max_ms": 1000 * max(times),
                "rows": len(answers[src]),
            }
        ref = answers[SOURCES[0]]
        for src in SOURCES[1:]:
            if not _same(ref, answers[src]):
                raise AssertionError(f"analyst query {qname}: {src} answers differ from {SOURCES[0]}")
    con.close()
    return {"data": info, "queries": results}


def _same(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra, rb, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if abs(x - y) > 1e-9 * max(abs(x), abs(y), 1.0):
                    return False
            elif x != y:
                return False
    return True
