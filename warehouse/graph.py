"""Queries over the industrial knowledge graph (graph.node, graph.edge) in DuckDB.

The supply chain is the `supplies` edges between enterprises (supplier -> buyer; optionally also
`trades_with`, seller -> buyer of data products), valid at a day (default: today, so closed edges drop out).
Walks are recursive CTEs that carry (node, hops) and UNION away repeats, so each level holds each
node at most once and a walk costs O(hops x edges) whatever the cycles. The edge set is a MATERIALIZED
CTE: inlined into the recursive step, DuckDB 1.5.5 dropped rows of some levels at random under its
parallel execution (5 of 60 three-hop walks on the test province; 0 of 450 materialized, checked by
tests/unit/test_graph.py's repeated walk); MAX_HOPS bounds a closure (a
supply chain longer than that is cut there, and says so in the result's `max_hops`).

Every function takes an open DuckDB connection on which `graph.node` and `graph.edge` exist (a role
file from warehouse.serving.session.connect, or an in-memory database for tests and the benchmark).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from warehouse.domain import INDUSTRIES
from warehouse.serving.session import connect as open_sealed

MAX_HOPS = len(INDUSTRIES)  # a chain through every division once: longer walks are cut
# DuckDB threads of a graph session (None: DuckDB's default, one per core). A walk is a chain of small
# recursive steps, too small to be worth splitting: in bench.graph's paired runs (README, knowledge graph)
# one thread cost 20-25% less CPU per query than the default (4 of 4 runs), and its worst 3-hop p95 over
# 7 runs was 76 ms against 97 (both directions at once: lower in 5 of 7 runs).
QUERY_THREADS: int | None = 1
SUPPLY = ("supplies",)
DIRECTIONS = ("upstream", "downstream")


class GraphQueryError(ValueError):
    """A query that cannot be answered as asked (unknown enterprise, bad argument); the message says why."""


def connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A sealed read-only session on a role file, with the threads graph walks are fastest on."""
    return open_sealed(db_path, read_only=True, threads=QUERY_THREADS)


def lit(value: str) -> str:
    """A SQL string literal. Values are inlined rather than bound: binding a parameter makes DuckDB's
    Python client import pandas (~5 s on this machine), more than any graph query costs."""
    return "'" + str(value).replace("'", "''") + "'"


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]::VARCHAR[]"


def _relations_sql(relations: Sequence[str]) -> str:
    allowed = {"supplies", "trades_with"}
    if not relations or set(relations) - allowed:
        raise GraphQueryError(f"relations must be among {sorted(allowed)}")
    return ", ".join(f"'{r}'" for r in relations)


def valid_at(as_of: dt.date | None) -> str:
    """SQL condition: the edge holds on `as_of` (default today)."""
    day = f"DATE '{(as_of or dt.date.today()).isoformat()}'"
    return f"(valid_from IS NULL OR valid_from <= {day}) AND (valid_to IS NULL OR valid_to > {day})"


def _chain_edges(relations: Sequence[str], as_of: dt.date | None) -> str:
    """Enterprise-to-enterprise edges of the chain valid at `as_of` (a SQL subquery)."""
    return (
        "SELECT DISTINCT src, dst FROM graph.edge "
        f"WHERE edge_type IN ({_relations_sql(relations)}) AND src_type = 'enterprise' AND dst_type = 'enterprise' "
        f"AND {valid_at(as_of)}"
    )


def enterprise_node(con: duckdb.DuckDBPyConnection, ref: str) -> str:
    """node_id of an enterprise named by USCC, node id or identifier handle; GraphQueryError when unknown."""
    ref = ref.strip()
    row = con.execute(
        "SELECT node_id FROM graph.node WHERE node_type = 'enterprise' "
        f"AND (node_id = {lit(ref)} OR uscc = {lit(ref)} OR handle = {lit(ref)}) ORDER BY node_id LIMIT 1"
    ).fetchone()
    if row is None:
        raise GraphQueryError(
            f"no enterprise {ref!r} in graph.node (give a USCC, enterprise:<USCC> or a handle)"
        )
    return row[0]


def _walk_sql(edges: str, direction: str, starts: Sequence[str], max_hops: int) -> str:
    if direction not in DIRECTIONS:
        raise GraphQueryError(f"direction must be one of {DIRECTIONS}")
    near, far = ("dst", "src") if direction == "upstream" else ("src", "dst")
    return f"""
        WITH RECURSIVE e AS MATERIALIZED ({edges}),
        walk(node, hops) AS (
            SELECT unnest({_list(starts)}), 0
            UNION
            SELECT e.{far}, w.hops + 1 FROM walk w JOIN e ON e.{near} = w.node WHERE w.hops < {int(max_hops)}
        ),
        reached AS (SELECT node, min(hops) AS hops FROM walk GROUP BY node)
        SELECT r.node AS node_id, n.uscc, n.label AS name, n.industry_code, n.city_code, r.hops
        FROM reached r LEFT JOIN graph.node n ON n.node_id = r.node
        WHERE NOT list_contains({_list(starts)}, r.node)
        ORDER BY r.hops, r.node
    """


def chain(
    con: duckdb.DuckDBPyConnection,
    enterprise: str,
    *,
    hops: int = 3,
    direction: str = "upstream",
    relations: Sequence[str] = SUPPLY,
    as_of: dt.date | None = None,
) -> pl.DataFrame:
    """The enterprises upstream (its suppliers, theirs ...) or downstream of one, up to `hops`, with the
    fewest hops to each."""
    if not 1 <= hops <= MAX_HOPS:
        raise GraphQueryError(f"hops must be 1..{MAX_HOPS}")
    start = enterprise_node(con, enterprise)
    return con.execute(_walk_sql(_chain_edges(relations, as_of), direction, [start], hops)).pl()


def neighbors(
    con: duckdb.DuckDBPyConnection,
    enterprise: str,
    *,
    hops: int = 3,
    relations: Sequence[str] = SUPPLY,
    as_of: dt.date | None = None,
) -> pl.DataFrame:
    """Both directions of `chain` in one statement (one scan of the edges), with a `direction` column."""
    if not 1 <= hops <= MAX_HOPS:
        raise GraphQueryError(f"hops must be 1..{MAX_HOPS}")
    start = lit(enterprise_node(con, enterprise))
    sql = f"""
        WITH RECURSIVE e AS MATERIALIZED ({_chain_edges(relations, as_of)}),
        up(node, hops) AS (
            SELECT {start}, 0
            UNION
            SELECT e.src, w.hops + 1 FROM up w JOIN e ON e.dst = w.node WHERE w.hops < {int(hops)}
        ),
        down(node, hops) AS (
            SELECT {start}, 0
            UNION
            SELECT e.dst, w.hops + 1 FROM down w JOIN e ON e.src = w.node WHERE w.hops < {int(hops)}
        ),
        reached AS (
            SELECT node, min(hops) AS hops, 'upstream' AS direction FROM up GROUP BY node
            UNION ALL
            SELECT node, min(hops) AS hops, 'downstream' AS direction FROM down GROUP BY node
        )
        SELECT r.node AS node_id, n.uscc, n.label AS name, n.industry_code, n.city_code, r.hops, r.direction
        FROM reached r LEFT JOIN graph.node n ON n.node_id = r.node
        WHERE r.node <> {start}
        ORDER BY r.direction DESC, r.hops, r.node
    """
    return con.execute(sql).pl()


@dataclass(frozen=True)
class Exposure:
    stopped: list[str]  # node ids of the enterprises that stop
    enterprises: pl.DataFrame  # exposed downstream: node_id, uscc, name, industry_code, city_code, hops
    industries: pl.DataFrame  # industry_code, exposed enterprises, of which directly (1 hop)
    max_hops: int


def exposure(
    con: duckdb.DuckDBPyConnection,
    *,
    supplier: str | None = None,
    city: str | None = None,
    relations: Sequence[str] = SUPPLY,
    as_of: dt.date | None = None,
    max_hops: int = MAX_HOPS,
) -> Exposure:
    """Supply-chain risk (产业链供应链安全): who is exposed when one supplier, or every enterprise of one city,
    stops. Exposed: every enterprise downstream of a stopped one (directly at 1 hop, further through its
    buyers), not itself stopped; and the industries they belong to."""
    if (supplier is None) == (city is None):
        raise GraphQueryError("name exactly one of a supplier or a city")
    if supplier is not None:
        stopped = [enterprise_node(con, supplier)]
    else:
        stopped = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT src FROM graph.edge WHERE edge_type = 'located_in' AND dst = {lit('city:' + city)} "
                f"AND {valid_at(as_of)} ORDER BY 1"
            ).fetchall()
        ]
        if not stopped:
            raise GraphQueryError(f"no enterprise located in city {city!r}")
    exposed = con.execute(_walk_sql(_chain_edges(relations, as_of), "downstream", stopped, max_hops)).pl()
    industries = (
        exposed.group_by(pl.col("industry_code").fill_null("unknown"))
        .agg(pl.len().alias("enterprises"), (pl.col("hops") == 1).sum().alias("directly"))
        .sort("enterprises", "industry_code", descending=[True, False])
    )
    return Exposure(stopped, exposed, industries, max_hops)


def shortest_path(
    con: duckdb.DuckDBPyConnection,
    source: str,
    target: str,
    *,
    relations: Sequence[str] = SUPPLY,
    as_of: dt.date | None = None,
    max_hops: int = MAX_HOPS,
) -> pl.DataFrame | None:
    """A shortest supply path from `source` (upstream) to `target` (downstream): one row per enterprise on
    it in order (step 0 = source), or None when goods from source do not reach target."""
    a, b = enterprise_node(con, source), enterprise_node(con, target)
    if a == b:
        raise GraphQueryError("source and target are the same enterprise")
    edges = _chain_edges(relations, as_of)
    # Distances from a (BFS as a recursive CTE), then the predecessors on shortest paths back from b.
    dist = con.execute(
        f"""
        WITH RECURSIVE e AS MATERIALIZED ({edges}),
        walk(node, hops) AS (
            SELECT {lit(a)}, 0
            UNION
            SELECT e.dst, w.hops + 1 FROM walk w JOIN e ON e.src = w.node
            WHERE w.hops < {int(max_hops)} AND w.node <> {lit(b)}
        )
        SELECT node, min(hops) FROM walk GROUP BY node
        """
    ).fetchall()
    hops = dict(dist)
    if b not in hops:
        return None
    preds: dict[str, list[str]] = {}
    for src, dst in con.execute(edges).fetchall():
        preds.setdefault(dst, []).append(src)
    path = [b]
    while path[-1] != a:
        here = path[-1]
        path.append(min(p for p in preds.get(here, []) if hops.get(p) == hops[here] - 1))
    path.reverse()
    names = con.execute(
        "SELECT node_id, uscc, label AS name, industry_code, city_code FROM graph.node "
        f"WHERE list_contains({_list(path)}, node_id)"
    ).pl()
    order = pl.DataFrame({"node_id": path, "step": list(range(len(path)))})
    return order.join(names, on="node_id", how="left").sort("step")


def graphml(nodes: pl.DataFrame, edges: pl.DataFrame) -> str:
    """GraphML (http://graphml.graphdrawing.org/) of the graph, every column as a node or edge attribute."""
    from xml.sax.saxutils import escape, quoteattr

    types = {pl.Float64: "double", pl.Int64: "long", pl.Boolean: "boolean"}

    def keys(df: pl.DataFrame, kind: str, skip: set[str]) -> list[str]:
        return [
            f'  <key id={quoteattr(f"{kind}_{c}")} for="{kind}" attr.name={quoteattr(c)} '
            f'attr.type="{types.get(df.schema[c], "string")}"/>'
            for c in df.columns
            if c not in skip
        ]

    def data(row: dict, kind: str, skip: set[str]) -> str:
        return "".join(
            f"<data key={quoteattr(f'{kind}_{k}')}>{escape(str(v))}</data>"
            for k, v in row.items()
            if k not in skip and v is not None
        )

    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
        'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">',
        *keys(nodes, "node", {"node_id"}),
        *keys(edges, "edge", {"src", "dst"}),
        '  <graph id="industrial_knowledge_graph" edgedefault="directed">',
    ]
    for row in nodes.iter_rows(named=True):
        out.append(f"    <node id={quoteattr(row['node_id'])}>{data(row, 'node', {'node_id'})}</node>")
    for i, row in enumerate(edges.iter_rows(named=True)):
        out.append(
            f'    <edge id="e{i}" source={quoteattr(row["src"])} target={quoteattr(row["dst"])}>'
            f"{data(row, 'edge', {'src', 'dst'})}</edge>"
        )
    out += ["  </graph>", "</graphml>", ""]
    return "\n".join(out)
