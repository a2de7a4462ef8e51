"""The knowledge graph: nodes and edges with provenance and validity; chains, exposure, paths in DuckDB."""

import datetime as dt
import random
import tempfile
import xml.etree.ElementTree as ET

import duckdb
import polars as pl
import pytest

from assets.graph.build import SOURCES, build_graph, read_sources
from warehouse import graph
from warehouse.codes import make_uscc
from warehouse.registry import (
    DATA_PRODUCT,
    ENTERPRISE,
    EQUIPMENT,
    GRAPH_EDGE,
    GRAPH_EDGE_TYPES,
    GRAPH_NODE,
    GRAPH_NODE_TYPES,
    IDENTIFIER,
    SILVER_PRODUCTION,
    SUPPLIER_LINK,
    TRADE,
)
from warehouse.storage import Lake

COAL, COKE, CHEM, FIBRE, TEXT = (
    make_uscc(d, f"AA00000{i}") for i, d in enumerate(["370302", "370302", "370502", "370102", "370102"])
)
OUTSIDE = make_uscc("110105", "MA000009")


def frame(spec, rows):
    """Rows of a registry table; columns a row leaves out are null."""
    return pl.DataFrame([{c: r.get(c) for c in spec.schema} for r in rows], schema=spec.schema)


def ent(uscc, name, industry, city, valid_from=dt.date(2026, 1, 1), valid_to=None):
    return {
        "uscc": uscc,
        "name": name,
        "industry_code": industry,
        "city_code": city,
        "status": "active",
        "valid_from": valid_from,
        "valid_to": valid_to,
    }


def link(buyer, supplier, material, value=1.0e6, on=dt.date(2026, 3, 1)):
    return {
        "buyer_uscc": buyer,
        "supplier_uscc": supplier,
        "material": material,
        "annual_value_cny": value,
        "declared_on": on,
        "supplier_unknown": supplier == OUTSIDE,
        "line_no": 2,
    }


def province():
    """coal -> coke -> chem -> fibre -> textiles, and an outside supplier of chem; chem changed industry."""
    enterprises = frame(
        ENTERPRISE,
        [
            ent(COAL, "煤", "06", "3703"),
            ent(COKE, "焦", "25", "3703"),
            ent(CHEM, "化", "25", "3705", valid_to=dt.date(2026, 6, 1)),
            ent(CHEM, "化", "26", "3705", valid_from=dt.date(2026, 6, 1)),
            ent(FIBRE, "纤", "28", "3701"),
            ent(TEXT, "纺", "17", "3701"),
        ],
    )
    equipment = frame(
        EQUIPMENT,
        [
            {
                "equipment_id": "EQ1",
                "uscc": CHEM,
                "site_id": "S1",
                "area_id": "S1-A1",
                "line_id": "S1-A1-L1",
                "equipment_type": "reactor",
            },
            {
                "equipment_id": "EQ2",
                "uscc": CHEM,
                "site_id": "S1",
                "area_id": "S1-A1",
                "line_id": "S1-A1-L1",
                "equipment_type": "pump",
            },
        ],
    )
    production = frame(
        SILVER_PRODUCTION,
        [{"day": dt.date(2026, 11, 1), "line_id": "S1-A1-L1", "uscc": CHEM, "product": "PTA"}],
    )
    products = frame(
        DATA_PRODUCT,
        [
            {
                "product_id": "DP1",
                "provider_uscc": CHEM,
                "title": "工况数据",
                "registration_no": "R1",
                "registered_at": dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
            },
            {"product_id": "DP2", "provider_uscc": CHEM, "title": "未登记", "registration_no": None},
        ],
    )
    trades = frame(
        TRADE,
        [
            {
                "trade_id": "T1",
                "product_id": "DP1",
                "seller_uscc": CHEM,
                "buyer_uscc": COAL,
                "amount_cny": 500.0,
                "day": dt.date(2026, 11, 2),
            }
        ],
    )
    links = frame(
        SUPPLIER_LINK,
        [
            link(COKE, COAL, "coal"),
            link(CHEM, COKE, "coke"),
            link(FIBRE, CHEM, "PTA"),
            link(TEXT, FIBRE, "fibre"),
            link(CHEM, OUTSIDE, "catalyst"),
        ],
    )
    identifiers = frame(
        IDENTIFIER,
        [
            {
                "handle": f"88.137.{CHEM}/ENT",
                "object_type": "enterprise",
                "object_key": CHEM,
                "uscc": CHEM,
                "status": "active",
            }
        ],
    )
    return build_graph(
        enterprises=enterprises,
        equipment=equipment,
        production=production,
        products=products,
        trades=trades,
        links=links,
        identifiers=identifiers,
    )


def connect(nodes, edges):
    """An in-memory DuckDB holding graph.node and graph.edge (loaded from Parquet: handing DuckDB an Arrow
    table makes its Python client import pandas, ~5 s here)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA graph")
    with tempfile.TemporaryDirectory() as tmp:
        for name, df in (("node", nodes), ("edge", edges)):
            df.write_parquet(f"{tmp}/{name}.parquet")
            con.execute(f"CREATE TABLE graph.{name} AS FROM read_parquet('{tmp}/{name}.parquet')")
    return con


AS_OF = dt.date(2026, 11, 15)


def test_graph_has_every_kind_of_node_and_edge_with_provenance_and_validity():
    nodes, edges = province()
    assert nodes.schema == GRAPH_NODE.schema and edges.schema == GRAPH_EDGE.schema
    # every declared kind occurs in the small province
    assert set(nodes["node_type"]) == set(GRAPH_NODE_TYPES) and set(edges["edge_type"]) == set(
        GRAPH_EDGE_TYPES
    )
    assert edges.filter(pl.col("source_table").is_null() | pl.col("source_key").is_null()).is_empty()
    ids = set(nodes["node_id"])
    assert set(edges["src"]) <= ids and set(edges["dst"]) <= ids
    # The golden record's versions: chem was 25 until 2026-06-01, then 26.
    chem = edges.filter(
        (pl.col("edge_type") == "belongs_to_industry") & (pl.col("src") == f"enterprise:{CHEM}")
    ).sort("valid_from")
    assert chem.select("dst", "valid_from", "valid_to").rows() == [
        ("industry:25", dt.date(2026, 1, 1), dt.date(2026, 6, 1)),
        ("industry:26", dt.date(2026, 6, 1), None),
    ]
    assert chem["source_key"].to_list() == [f"{CHEM}|2026-01-01", f"{CHEM}|2026-06-01"]
    assert nodes.filter(pl.col("node_id") == f"enterprise:{CHEM}")["handle"].to_list() == [
        f"88.137.{CHEM}/ENT"
    ]
    assert nodes.filter(pl.col("node_id") == f"enterprise:{CHEM}")["industry_code"].to_list() == ["26"]
    assert "data_product:DP2" not in ids  # never registered: not in the graph
    outside = nodes.filter(pl.col("node_id") == f"enterprise:{OUTSIDE}").row(0, named=True)
    assert outside["label"] is None and outside["node_type"] == "enterprise"


def test_upstream_and_downstream_chains_count_hops():
    con = connect(*province())
    up = graph.chain(con, TEXT, hops=3, direction="upstream", as_of=AS_OF)
    assert dict(zip(up["uscc"], up["hops"], strict=False)) == {FIBRE: 1, CHEM: 2, COKE: 3, OUTSIDE: 3}
    down = graph.chain(con, f"88.137.{CHEM}/ENT", hops=5, direction="downstream", as_of=AS_OF)  # by handle
    assert dict(zip(down["uscc"], down["hops"], strict=False)) == {FIBRE: 1, TEXT: 2}
    both = graph.neighbors(con, CHEM, hops=1, as_of=AS_OF)
    assert sorted(zip(both["direction"], both["uscc"], strict=False)) == sorted(
        [("upstream", COKE), ("upstream", OUTSIDE), ("downstream", FIBRE)]
    )
    # Edges declared later than the day asked are not there yet.
    assert graph.chain(con, TEXT, hops=3, direction="upstream", as_of=dt.date(2026, 1, 1)).is_empty()
    with pytest.raises(graph.GraphQueryError, match="no enterprise"):
        graph.chain(con, "nobody", as_of=AS_OF)


def test_exposure_of_a_supplier_and_of_a_city():
    con = connect(*province())
    ex = graph.exposure(con, supplier=COKE, as_of=AS_OF)
    assert dict(zip(ex.enterprises["uscc"], ex.enterprises["hops"], strict=False)) == {
        CHEM: 1,
        FIBRE: 2,
        TEXT: 3,
    }
    assert ex.industries.rows() == [("17", 1, 0), ("26", 1, 1), ("28", 1, 0)]
    city = graph.exposure(con, city="3703", as_of=AS_OF)  # coal and coke stop
    assert sorted(city.stopped) == sorted([f"enterprise:{COAL}", f"enterprise:{COKE}"])
    assert set(city.enterprises["uscc"]) == {CHEM, FIBRE, TEXT}
    # Data trades are another chain: with them, chem's stop reaches coal too, on the day of the trade.
    trades = ("supplies", "trades_with")
    assert COAL in set(
        graph.exposure(con, supplier=CHEM, relations=trades, as_of=dt.date(2026, 11, 2)).enterprises["uscc"]
    )
    assert COAL not in set(
        graph.exposure(con, supplier=CHEM, relations=trades, as_of=AS_OF).enterprises["uscc"]
    )
    with pytest.raises(graph.GraphQueryError):
        graph.exposure(con, supplier=COKE, city="3703")


def test_shortest_supply_path_follows_the_flow_of_goods():
    con = connect(*province())
    path = graph.shortest_path(con, COAL, TEXT, as_of=AS_OF)
    assert path["uscc"].to_list() == [COAL, COKE, CHEM, FIBRE, TEXT]
    assert graph.shortest_path(con, TEXT, COAL, as_of=AS_OF) is None  # against the flow


def test_graphml_export_is_well_formed():
    nodes, edges = province()
    root = ET.fromstring(graph.graphml(nodes, edges).encode())
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    assert len(root.findall(".//g:node", ns)) == nodes.height
    assert len(root.findall(".//g:edge", ns)) == edges.height
    nx = pytest.importorskip("networkx")
    import io

    g = nx.read_graphml(io.BytesIO(graph.graphml(nodes, edges).encode()))
    assert g.number_of_nodes() == nodes.height


def bfs(adj, start, limit):
    seen, frontier, hops = {start: 0}, [start], 0
    while frontier and hops < limit:
        hops += 1
        frontier = [
            n
            for f in frontier
            for n in sorted(adj.get(f, ()))
            if n not in seen and seen.setdefault(n, hops) is not None
        ]
    return {k: v for k, v in seen.items() if k != start}


def test_walks_are_exact_and_repeatable_on_a_larger_random_chain():
    """Guards the MATERIALIZED edge CTE: inlined, DuckDB 1.5.5 dropped rows of some levels at random."""
    rng = random.Random(7)
    names = [f"enterprise:E{i:04d}" for i in range(400)]
    rows = [(names[a], names[b]) for b in range(1, 400) for a in rng.sample(range(b), min(b, 3))]
    edges = pl.DataFrame(
        {
            "edge_type": "supplies",
            "src": [r[0] for r in rows],
            "dst": [r[1] for r in rows],
            "src_type": "enterprise",
            "dst_type": "enterprise",
            "source_table": "t",
            "source_key": [f"{a}|{b}" for a, b in rows],
        }
    ).with_columns(pl.lit(None, pl.Date).alias("valid_from"), pl.lit(None, pl.Date).alias("valid_to"))
    edges = pl.concat([frame(GRAPH_EDGE, []), edges], how="diagonal_relaxed")
    nodes = frame(
        GRAPH_NODE, [{"node_id": n, "node_type": "enterprise", "uscc": n.split(":")[1]} for n in names]
    )
    con = connect(nodes, edges)
    up: dict[str, set] = {}
    for a, b in rows:
        up.setdefault(b, set()).add(a)
    for name in names[-30:]:
        got = graph.chain(con, name, hops=3, direction="upstream")
        assert dict(zip(got["node_id"], got["hops"], strict=False)) == bfs(up, name, 3), name


def test_a_lake_without_any_source_yet_builds_an_empty_graph(tmp_path):
    """Each source table never built reads as an empty frame of its schema, so the graph asset can run
    before trading or the identifiers have."""
    sources = read_sources(Lake(tmp_path / "lake"))
    assert {k: df.schema for k, df in sources.items()} == {k: s.schema for k, s in SOURCES.items()}
    nodes, edges = build_graph(**sources)
    assert nodes.filter(pl.col("node_type") == "enterprise").is_empty() and edges.is_empty()
