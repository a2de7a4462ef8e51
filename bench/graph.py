"""Knowledge-graph queries on a 1,000-enterprise province: 3-hop chains, exposure, shortest paths.

The province is the simulator's (same master data and supplier declarations as `lakehouse generate`
for that many enterprises), turned into graph.node / graph.edge by the asset's plain function and
stored as native tables in a DuckDB file, as the analysts' role file holds them; queries run through
warehouse.graph in a sealed session (warehouse.serving.session.connect). Goal (issue 18): 3-hop p95 <= 100 ms.

    python -m bench.graph [--enterprises 1000] [--queries 200] [--work DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from assets.graph.build import build_graph
from assets.industry.supply_chain import read_supplier_links
from simulator.province import build_province
from simulator.supply import write_supplier_links
from warehouse import graph
from warehouse.contracts import SUPPLIER_LINKS_FILE
from warehouse.registry import DATA_PRODUCT, ENTERPRISE, IDENTIFIER, SILVER_PRODUCTION, TRADE
from warehouse.serving.session import connect

START = dt.date(2026, 11, 1)


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def build(work: Path, enterprises: int, seed: int = 42) -> tuple[Path, pl.DataFrame]:
    """A DuckDB file with graph.node and graph.edge for a simulated province; returns it and the USCCs."""
    prov = build_province(enterprises, np.random.default_rng(seed))
    write_supplier_links(
        work / "landing",
        prov.enterprises,
        prov.enterprises["uscc"].to_list(),
        start=START,
        rng=np.random.default_rng([seed, 1949]),
    )
    links = read_supplier_links(work / "landing" / "supply" / SUPPLIER_LINKS_FILE, prov.enterprises["uscc"])
    ent = prov.enterprises.with_columns(
        pl.lit("active").alias("status"),
        pl.lit(dt.date(2026, 1, 1)).alias("valid_from"),
        pl.lit(None, pl.Date).alias("valid_to"),
    )
    ent = pl.concat([pl.DataFrame(schema=ENTERPRISE.schema), ent], how="diagonal_relaxed")
    nodes, edges = build_graph(
        enterprises=ent,
        equipment=prov.equipment,
        production=pl.DataFrame(schema=SILVER_PRODUCTION.schema),
        products=pl.DataFrame(schema=DATA_PRODUCT.schema),
        trades=pl.DataFrame(schema=TRADE.schema),
        links=links,
        identifiers=pl.DataFrame(schema=IDENTIFIER.schema),
    )
    db = work / "knowledge.duckdb"  # not graph.duckdb: its catalog would clash with the schema
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA graph")
    for name, df in (("node", nodes), ("edge", edges)):
        df.write_parquet(work / f"{name}.parquet")
        con.execute(f"CREATE TABLE graph.{name} AS FROM read_parquet('{work / f'{name}.parquet'}')")
    con.close()
    return db, ent.select("uscc", "city_code")


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.graph", description=__doc__)
    parser.add_argument("--enterprises", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("bench/.work/graph"))
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads of the session")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    db, ents = build(work, args.enterprises)
    build_s = time.perf_counter() - t0
    con = connect(db, read_only=True, threads=args.threads)
    counts = dict(con.execute("SELECT edge_type, count(*) FROM graph.edge GROUP BY 1").fetchall())
    rng = random.Random(7)
    usccs = ents["uscc"].to_list()
    graph.chain(con, usccs[0], hops=3)  # warm-up
    three_hop = {
        d: [
            timed(lambda u=u, d=d: graph.chain(con, u, hops=3, direction=d))
            for u in rng.sample(usccs, args.queries)
        ]
        for d in graph.DIRECTIONS
    }
    both = [timed(lambda u=u: graph.neighbors(con, u, hops=3)) for u in rng.sample(usccs, args.queries)]
    exposure_s = [timed(lambda u=u: graph.exposure(con, supplier=u)) for u in rng.sample(usccs, 20)]
    city_s = [timed(lambda c=c: graph.exposure(con, city=c)) for c in sorted(set(ents["city_code"]))]
    path_s = [
        timed(lambda a=a, b=b: graph.shortest_path(con, a, b))
        for a, b in zip(rng.sample(usccs, 20), rng.sample(usccs, 20), strict=True)
        if a != b
    ]

    def stats(xs: list[float]) -> dict:
        return {"n": len(xs), "p50_ms": _quantile(xs, 0.5) * 1000, "p95_ms": _quantile(xs, 0.95) * 1000}

    results = {
        "enterprises": args.enterprises,
        "nodes": con.execute("SELECT count(*) FROM graph.node").fetchone()[0],
        "edges": counts,
        "build_s": build_s,
        "duckdb_threads": args.threads,
        "load_average": os.getloadavg(),
        "three_hop_upstream": stats(three_hop["upstream"]),
        "three_hop_downstream": stats(three_hop["downstream"]),
        "three_hop_both": stats(both),
        "exposure_supplier": stats(exposure_s),
        "exposure_city": stats(city_s),
        "shortest_path": stats(path_s),
    }
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "graph.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
