"""A picture of one enterprise's neighborhood in the knowledge graph, as inline SVG for the HTML directory.

Drawn here, on the server, from a DuckDB query over graph.node/graph.edge: the page needs no script, no
font and no network. Only grade-1 facts are drawn (node type and label, edge type and direction), so the
picture may stand in a directory page that anyone reading the catalog sees; declared values (grade 2)
and anything personal stay out. Which enterprise: the best connected one along the chain (most
supply/trade partners, then most edges, then the smallest id), so the same lake always gives the same
picture.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from warehouse.graph import connect, lit, valid_at

MAX_NEIGHBORS = 40  # more would not be legible in one ring; the rest are counted under the picture
_COLORS = {
    "enterprise": "#2b6cb0",
    "equipment": "#718096",
    "line": "#805ad5",
    "product": "#d69e2e",
    "data_product": "#dd6b20",
    "industry": "#38a169",
    "city": "#e53e3e",
    "material": "#b7791f",
}
_EDGE_COLORS = {
    "supplies": "#2b6cb0",
    "trades_with": "#dd6b20",
    "owns": "#a0aec0",
    "part_of": "#a0aec0",
    "registered_by": "#dd6b20",
    "located_in": "#e53e3e",
    "belongs_to_industry": "#38a169",
}


@dataclass(frozen=True)
class Neighborhood:
    center: str  # node_id
    label: str
    nodes: pl.DataFrame  # node_id, node_type, label: the neighbors drawn
    edges: pl.DataFrame  # edge_type, src, dst, n: one per kind and direction between the center and one
    hidden: int  # neighbors left out beyond MAX_NEIGHBORS


def best_connected(con: duckdb.DuckDBPyConnection, as_of: dt.date | None = None) -> str | None:
    """The enterprise with the most supply/trade partners (then edges, then smallest id), or None."""
    row = con.execute(
        f"""
        WITH e AS (SELECT edge_type, src, dst FROM graph.edge WHERE {valid_at(as_of)}),
        ends AS (
            SELECT src AS node, dst AS other, edge_type FROM e UNION ALL SELECT dst, src, edge_type FROM e
        )
        SELECT ends.node FROM ends JOIN graph.node n ON n.node_id = ends.node AND n.node_type = 'enterprise'
        GROUP BY ends.node
        ORDER BY count(DISTINCT other) FILTER (WHERE edge_type IN ('supplies', 'trades_with')) DESC,
                 count(*) DESC, ends.node
        LIMIT 1
        """
    ).fetchone()
    return row[0] if row else None


def neighborhood(con: duckdb.DuckDBPyConnection, center: str, as_of: dt.date | None = None) -> Neighborhood:
    """Every node one edge away from `center` (edges valid at `as_of`), grade-1 columns only."""
    edges = con.execute(
        f"""
        SELECT edge_type, src, dst, count(*) AS n FROM graph.edge
        WHERE (src = {lit(center)} OR dst = {lit(center)}) AND src <> dst AND {valid_at(as_of)}
        GROUP BY ALL ORDER BY edge_type, src, dst
        """
    ).pl()
    others = (
        edges.select(pl.when(pl.col("src") == center).then("dst").otherwise("src").alias("node_id"))
        .unique()
        .join(con.execute("SELECT node_id, node_type, label FROM graph.node").pl(), on="node_id", how="left")
        .with_columns(pl.col("node_type").fill_null(pl.col("node_id").str.extract(r"^([a-z_]+):")))
        .sort("node_type", "node_id")
    )
    shown = others.head(MAX_NEIGHBORS)
    keep = set(shown["node_id"]) | {center}
    label = con.execute(f"SELECT label FROM graph.node WHERE node_id = {lit(center)}").fetchone()
    return Neighborhood(
        center=center,
        label=(label[0] if label and label[0] else center),
        nodes=shown,
        edges=edges.filter(pl.col("src").is_in(keep) & pl.col("dst").is_in(keep)),
        hidden=others.height - shown.height,
    )


def _text(node_id: str, label: str | None) -> str:
    return html.escape(label or node_id.split(":", 1)[-1])


def svg(hood: Neighborhood, size: int = 720) -> str:
    """The center in the middle, its neighbors on a ring grouped by type; arrows point along each edge."""
    mid, ring = size / 2, size / 2 - 150
    pos = {hood.center: (mid, mid)}
    for i, node in enumerate(hood.nodes["node_id"]):
        angle = 2 * math.pi * i / max(hood.nodes.height, 1) - math.pi / 2
        pos[node] = (mid + ring * math.cos(angle), mid + ring * math.sin(angle))
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{size}' height='{size}' viewBox='0 0 {size} {size}' "
        f"role='img' aria-label='neighborhood of {html.escape(hood.center)}' font-size='11'>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='18' refY='5' markerWidth='7' markerHeight='7' "
        "orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='#555'/></marker></defs>",
    ]
    for e in hood.edges.iter_rows(named=True):
        (x1, y1), (x2, y2) = pos[e["src"]], pos[e["dst"]]
        times = f" ×{e['n']}" if e["n"] > 1 else ""
        out.append(
            f"<line class='edge' data-type='{e['edge_type']}' x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' "
            f"y2='{y2:.1f}' stroke='{_EDGE_COLORS.get(e['edge_type'], '#999')}' marker-end='url(#arrow)'>"
            f"<title>{e['edge_type']}{times}</title></line>"
        )
    for node in hood.nodes.iter_rows(named=True):
        x, y = pos[node["node_id"]]
        anchor = "start" if x >= mid else "end"
        dx = 9 if x >= mid else -9
        out.append(
            f"<g class='node' data-id='{html.escape(node['node_id'])}'>"
            f"<circle cx='{x:.1f}' cy='{y:.1f}' r='7' fill='{_COLORS.get(node['node_type'], '#999')}'>"
            f"<title>{html.escape(node['node_type'] or '')}: {html.escape(node['node_id'])}</title></circle>"
            f"<text x='{x + dx:.1f}' y='{y + 4:.1f}' text-anchor='{anchor}'>"
            f"{_text(node['node_id'], node['label'])}</text></g>"
        )
    out.append(
        f"<g class='node center' data-id='{html.escape(hood.center)}'><circle cx='{mid}' cy='{mid}' r='12' "
        f"fill='{_COLORS['enterprise']}'/><text x='{mid}' y='{mid + 28}' text-anchor='middle' "
        f"font-weight='bold'>{html.escape(hood.label)}</text></g>"
    )
    legend = sorted(set(hood.nodes["node_type"].drop_nulls()) | {"enterprise"})
    for i, kind in enumerate(legend):
        out.append(
            f"<circle cx='12' cy='{14 + 16 * i}' r='5' fill='{_COLORS.get(kind, '#999')}'/>"
            f"<text x='22' y='{18 + 16 * i}'>{kind}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def neighborhood_section(con: duckdb.DuckDBPyConnection, as_of: dt.date | None = None) -> str:
    """The directory's knowledge-graph section: the best connected enterprise's 1-hop neighborhood."""
    center = best_connected(con, as_of)
    if center is None:
        return ""
    hood = neighborhood(con, center, as_of)
    more = f" ({hood.hidden} more neighbors not drawn)" if hood.hidden else ""
    return (
        f"<section id='knowledge-graph'><h2>Knowledge graph: the neighborhood of {html.escape(hood.label)} (知识图谱)</h2>"
        f"<p>{html.escape(center)}: {hood.nodes.height} nodes one edge away{more}, edges valid "
        f"{(as_of or dt.date.today()).isoformat()}; <code>lakehouse graph neighbors</code> walks further.</p>"
        + svg(hood)
        + "</section>"
    )


def directory_section(warehouse_db: Path, as_of: dt.date | None = None) -> str:
    """neighborhood_section from the analysts' role file; empty while it has no graph yet."""
    if not warehouse_db.is_file():
        return ""
    con = connect(warehouse_db)
    try:
        tables = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'graph' AND table_name IN ('node', 'edge')"
        ).fetchone()[0]
        return neighborhood_section(con, as_of) if tables == 2 else ""
    finally:
        con.close()
