"""Identifiers and the knowledge graph on the simulated province (the session's materialized home).

Graph answers are checked against the ground truth the simulator declares (manifest `graph`); handles
against a recomputation from scratch, which must give every object the handle it already has.
"""

import datetime as dt
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import polars as pl

from assets.identifier.issue import identified_objects, issue_identifiers
from orchestration.cli import main
from orchestration.runs import run_pending
from tests.integration.conftest import sql, truth, use_home
from warehouse import graph
from warehouse.graph_picture import MAX_NEIGHBORS
from warehouse.identifiers import HANDLE_PATTERN, parse_handle
from warehouse.registry import DATA_PRODUCT, ENTERPRISE, EQUIPMENT, GRAPH_EDGE, GRAPH_NODE, IDENTIFIER
from warehouse.serving.session import connect
from warehouse.settings import settings
from warehouse.storage import Lake


def _hops(df: pl.DataFrame) -> dict[str, int]:
    return dict(zip(df["uscc"], df["hops"], strict=True))


def test_graph_queries_match_the_simulators_ground_truth(home):
    expected = truth(home)["graph"]
    con = connect(settings().warehouse_db, read_only=True)
    try:
        for uscc, reached in expected["upstream"].items():
            assert _hops(graph.chain(con, uscc, hops=expected["hops"], direction="upstream")) == reached, uscc
        for uscc, reached in expected["downstream"].items():
            assert _hops(graph.chain(con, uscc, hops=expected["hops"], direction="downstream")) == reached, (
                uscc
            )
        sup = expected["exposure_supplier"]
        ex = graph.exposure(con, supplier=sup["supplier"])
        assert _hops(ex.enterprises) == sup["enterprises"]
        assert dict(ex.industries.select("industry_code", "enterprises").iter_rows()) == sup["industries"]
        city = expected["exposure_city"]
        ex = graph.exposure(con, city=city["city"])
        assert len(ex.stopped) == city["stopped"]
        assert _hops(ex.enterprises) == city["enterprises"]
        assert dict(ex.industries.select("industry_code", "enterprises").iter_rows()) == city["industries"]
        sp = expected["shortest_path"]
        path = graph.shortest_path(con, sp["from"], sp["to"])
        assert path is not None and path.height - 1 == sp["hops"]
        assert (path["uscc"][0], path["uscc"][-1]) == (sp["from"], sp["to"])
        edges = con.sql(
            "SELECT count(*) FROM graph.edge WHERE edge_type = 'supplies' AND dst_type = 'enterprise'"
        )
        assert edges.fetchone()[0] == expected["edges"]
    finally:
        con.close()


def test_every_object_has_one_well_formed_handle_and_a_rebuild_gives_the_same(home):
    lake = Lake(settings().lake)
    ids = lake.read(IDENTIFIER)
    assert ids["handle"].is_unique().all() and ids.select("object_type", "object_key").is_unique().all()
    assert all(re.match(HANDLE_PATTERN, h) for h in ids["handle"])
    assert all(parse_handle(h).object_key == k for h, k in ids.select("handle", "object_key").iter_rows())
    golden = lake.read(ENTERPRISE).filter(pl.col("valid_to").is_null())
    equipment = lake.read(EQUIPMENT)
    products = lake.read(DATA_PRODUCT)
    counts = dict(ids.group_by("object_type").len().iter_rows())
    assert set(counts) == {"enterprise", "equipment", "line", "data_product"}, (counts, products)
    assert counts["enterprise"] == golden.height
    assert counts["equipment"] == equipment.height
    assert counts["line"] == equipment["line_id"].n_unique()
    assert counts["data_product"] == products.filter(pl.col("registration_no").is_not_null()).height
    # A full rebuild from nothing (no handle kept) issues exactly the same handle to every object.
    objects = identified_objects(golden, equipment, products, now=dt.datetime.now(dt.UTC))
    fresh = issue_identifiers(
        pl.DataFrame(schema=IDENTIFIER.schema),
        objects,
        node=settings().identifier_node,
        now=dt.datetime.now(dt.UTC),
    )
    assert (
        fresh.select("handle", "object_type", "object_key", "status")
        .sort("handle")
        .equals(ids.select("handle", "object_type", "object_key", "status").sort("handle"))
    )
    # Handles are on the graph's nodes, and the quality gate held them.
    assert sql("SELECT count(*) AS n FROM graph.node WHERE handle IS NOT NULL")["n"][0] == ids.height
    gate = sql("SELECT rule_id, passed FROM catalog.quality_results WHERE table_name = 'silver.identifier'")
    assert (
        set(gate["rule_id"]) >= {"handle_well_formed", "handle_unique", "handles_kept"}
        and gate["passed"].all()
    )


def test_a_full_rebuild_from_the_same_landing_files_gives_every_object_the_same_handle(home, tmp_path):
    """Another home, nothing kept but the landing files (same bytes, same modification times): every
    object gets the handle it has here, and the handles are issued anew (later), not copied."""
    first = Lake(settings().lake).read(IDENTIFIER)
    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(home / "landing", rebuilt / "landing")  # copy2: the landing days stay the same
    use_home(rebuilt)
    try:
        run_pending()
        second = Lake(settings().lake).read(IDENTIFIER)
    finally:
        use_home(home)
    key = ["object_type", "object_key"]
    assert first.height and set(first["object_type"]) == {"enterprise", "equipment", "line", "data_product"}
    assert (
        second.select(*key, "handle", "status")
        .sort(key)
        .equals(first.select(*key, "handle", "status").sort(key))
    )
    assert second["issued_at"].min() > first["issued_at"].max()  # a rebuild, not a copy of the table


def test_cli_graph_commands_and_graphml_export(home, tmp_path, capsys):
    expected = truth(home)["graph"]
    sup = expected["exposure_supplier"]["supplier"]

    def cli(*args):
        """`lakehouse ARGS` in process (its one entry point), with what it printed."""
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    out = cli("graph", "exposure", "--supplier", sup, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert {r["uscc"]: r["hops"] for r in json.loads(out.stdout)} == expected["exposure_supplier"][
        "enterprises"
    ]
    sp = expected["shortest_path"]
    out = cli("graph", "path", sp["from"], sp["to"], "--format", "json")
    assert out.returncode == 0 and len(json.loads(out.stdout)) == sp["hops"] + 1
    assert cli("graph", "path", sp["to"], sp["from"]).returncode == 1  # against the flow of goods
    bad = cli("graph", "neighbors", "no-such-enterprise")
    assert bad.returncode == 2 and "no enterprise" in bad.stderr and "Traceback" not in bad.stderr
    target = tmp_path / "graph.graphml"
    assert cli("graph", "export", "--graphml", str(target)).returncode == 0
    text = target.read_text()
    assert text.count("<node id=") == sql("SELECT count(*) AS n FROM graph.node")["n"][0]


def test_handles_show_in_trading_records_and_the_resource_directory(home, tmp_path, capsys):
    ids = sql("SELECT object_key, handle FROM silver.identifier WHERE object_type = 'data_product'")
    issued = dict(ids.iter_rows())
    trades = sql("SELECT product_id, product_handle FROM silver.trade")
    assert trades.height and all(issued[p] == h for p, h in trades.iter_rows())
    assert main(["catalog", "export", "--dcat", str(tmp_path / "d.json")]) == 0, capsys.readouterr().err
    listed = {d["dct:identifier"] for d in json.loads((tmp_path / "d.json").read_text())["dcat:dataset"]}
    assert set(issued.values()) <= listed


def test_the_html_directory_draws_the_best_connected_enterprises_neighborhood(home, tmp_path, capsys):
    site = tmp_path / "site"
    assert main(["catalog", "export", "--html", str(site)]) == 0, capsys.readouterr().err
    page = (site / "index.html").read_text(encoding="utf-8")
    section = page[page.index("<section id='knowledge-graph'>") :]
    svg = ET.fromstring(section[section.index("<svg") : section.index("</svg>") + len("</svg>")])
    groups = [g for g in svg.iter("{http://www.w3.org/2000/svg}g") if "node" in (g.get("class") or "")]
    center = next(g.get("data-id") for g in groups if "center" in g.get("class"))
    # The enterprise with the most supply/trade partners today (then edges, then id), counted here in polars.
    lake = Lake(settings().lake)
    today = dt.date.today()
    edges = lake.read(GRAPH_EDGE).filter(
        (pl.col("valid_from").is_null() | (pl.col("valid_from") <= today))
        & (pl.col("valid_to").is_null() | (pl.col("valid_to") > today))
    )
    ends = pl.concat(
        [
            edges.select(pl.col("src").alias("node"), pl.col("dst").alias("other"), "edge_type"),
            edges.select(pl.col("dst").alias("node"), pl.col("src").alias("other"), "edge_type"),
        ]
    ).join(
        lake.read(GRAPH_NODE).filter(pl.col("node_type") == "enterprise"), left_on="node", right_on="node_id"
    )
    ranked = (
        ends.group_by("node")
        .agg(
            pl.col("other")
            .filter(pl.col("edge_type").is_in(["supplies", "trades_with"]))
            .n_unique()
            .alias("p"),
            pl.len().alias("n"),
        )
        .sort(["p", "n", "node"], descending=[True, True, False])
    )
    assert center == ranked["node"][0]
    # Every node one edge away, by the DuckDB query analysts would type, is drawn (the ring holds them all).
    hood = sql(
        f"SELECT DISTINCT CASE WHEN src = '{center}' THEN dst ELSE src END AS node FROM graph.edge "
        f"WHERE (src = '{center}' OR dst = '{center}') AND src <> dst "
        f"AND (valid_from IS NULL OR valid_from <= current_date) AND (valid_to IS NULL OR valid_to > current_date)"
    )
    assert 0 < hood.height <= MAX_NEIGHBORS
    assert {g.get("data-id") for g in groups} == set(hood["node"]) | {center}
    # Nothing of grade 3 (legal representatives' ids), no script, nothing fetched from the network.
    reps = lake.read(ENTERPRISE)["legal_representative_id"].drop_nulls()
    assert reps.len() and not any(r in page for r in reps)
    assert "<script" not in page
    assert set(re.findall(r"(?:https?:)?//[^'\" >]+", page)) <= {"http://www.w3.org/2000/svg"}
