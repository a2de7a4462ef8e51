"""Knowledge-graph queries on a 1,000-enterprise province: 3-hop chains, exposure, shortest paths.

The province is the simulator's (same master data and supplier declarations as `lakehouse generate`
for that many enterprises), turned into graph.node / graph.edge by the asset's plain function and
stored as native tables in a DuckDB file, as the analysts' role file holds them; queries run through
warehouse.graph in a sealed session (warehouse.serving.session.connect). Goal (issue 18): 3-hop p95 <= 100 ms.

    python -m bench.graph [--enterprises 1000] [--queries 200] [--work DIR] [--threads 1 --threads default]
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from bench.machine import write_results
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


def timed(fn) -> tuple[float, float]:
    """Wall and CPU seconds of one call (CPU of every thread of this process: the load-independent cost)."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def paired(sessions: dict[str, duckdb.DuckDBPyConnection], query, args: list) -> dict[str, list]:
    """Each argument timed on every session in turn, the order reversed every other time (ABBA), so the
    settings compared meet the same background load of a shared machine."""
    times: dict[str, list] = {name: [] for name in sessions}
    for i, arg in enumerate(args):
        for name in list(sessions)[:: 1 if i % 2 == 0 else -1]:
            times[name].append(timed(lambda c=sessions[name], a=arg: query(c, a)))
    return times


def _stats(samples: list[tuple[float, float]]) -> dict:
    wall = [w for w, _ in samples]
    return {
        "n": len(samples),
        "p50_ms": _quantile(wall, 0.5) * 1000,
        "p95_ms": _quantile(wall, 0.95) * 1000,
        "cpu_ms_mean": sum(c for _, c in samples) / len(samples) * 1000,
    }


def _threads(text: str) -> int | None:
    return None if text in ("default", "0") else int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.graph", description=__doc__)
    parser.add_argument("--enterprises", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--work", type=Path, default=Path("bench/work/graph"))
    parser.add_argument(
        "--threads",
        type=_threads,
        action="append",
        help="DuckDB threads of the session ('default': one per core); give it twice to compare two "
        f"settings on the same queries, interleaved (default: the graph sessions', {graph.QUERY_THREADS})",
    )
    args = parser.parse_args(argv)
    settings_ = args.threads or [graph.QUERY_THREADS]
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    db, ents = build(work, args.enterprises)
    build_s = time.perf_counter() - t0
    sessions = {f"threads={t or 'default'}": connect(db, read_only=True, threads=t) for t in settings_}
    con = next(iter(sessions.values()))
    counts = dict(con.execute("SELECT edge_type, count(*) FROM graph.edge GROUP BY 1").fetchall())
    rng = random.Random(7)
    usccs = ents["uscc"].to_list()
    for c in sessions.values():
        graph.chain(c, usccs[0], hops=3)  # warm-up
    kinds = {
        f"three_hop_{d}": paired(
            sessions,
            lambda c, u, d=d: graph.chain(c, u, hops=3, direction=d),
            rng.sample(usccs, args.queries),
        )
        for d in graph.DIRECTIONS
    }
    kinds["three_hop_both"] = paired(
        sessions, lambda c, u: graph.neighbors(c, u, hops=3), rng.sample(usccs, args.queries)
    )
    kinds["exposure_supplier"] = paired(
        sessions, lambda c, u: graph.exposure(c, supplier=u), rng.sample(usccs, 20)
    )
    kinds["exposure_city"] = paired(
        sessions, lambda c, city: graph.exposure(c, city=city), sorted(set(ents["city_code"]))
    )
    pairs = [(a, b) for a, b in zip(rng.sample(usccs, 20), rng.sample(usccs, 20), strict=True) if a != b]
    kinds["shortest_path"] = paired(sessions, lambda c, ab: graph.shortest_path(c, *ab), pairs)
    results = {
        "enterprises": args.enterprises,
        "nodes": con.execute("SELECT count(*) FROM graph.node").fetchone()[0],
        "edges": counts,
        "build_s": build_s,
        "load_average": os.getloadavg(),
        "sessions": {name: {kind: _stats(times[name]) for kind, times in kinds.items()} for name in sessions},
    }
    write_results("graph", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
