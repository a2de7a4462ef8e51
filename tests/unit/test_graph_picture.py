"""The directory's picture of an enterprise's neighborhood: which enterprise, which nodes, drawn as SVG."""

import datetime as dt
import xml.etree.ElementTree as ET

from tests.unit.test_graph import AS_OF, CHEM, COKE, FIBRE, OUTSIDE, connect, province
from warehouse import graph_picture

SVG = "{http://www.w3.org/2000/svg}"


def drawn(section: str) -> ET.Element:
    return ET.fromstring(section[section.index("<svg") : section.index("</svg>") + len("</svg>")])


def test_the_best_connected_enterprise_is_drawn_with_every_node_one_edge_away():
    con = connect(*province())
    assert graph_picture.best_connected(con, AS_OF) == f"enterprise:{CHEM}"  # 3 supply partners
    hood = graph_picture.neighborhood(con, f"enterprise:{CHEM}", AS_OF)
    assert set(hood.nodes["node_id"]) == {
        f"enterprise:{COKE}",
        f"enterprise:{OUTSIDE}",
        f"enterprise:{FIBRE}",
        "equipment:EQ1",
        "equipment:EQ2",
        "line:S1-A1-L1",
        "data_product:DP1",
        "city:3705",
        "industry:26",  # the current version only: industry 25 closed on 2026-06-01
        "material:PTA",
    }
    assert hood.hidden == 0
    svg = drawn(graph_picture.neighborhood_section(con, AS_OF))
    ids = {g.get("data-id") for g in svg.iter(f"{SVG}g") if "node" in (g.get("class") or "")}
    assert ids == set(hood.nodes["node_id"]) | {f"enterprise:{CHEM}"}
    lines = list(svg.iter(f"{SVG}line"))
    assert len(lines) == hood.edges.height == 10
    # Arrows follow the edges: coke supplies chem, so its line ends on the center.
    center = (float(svg.get("width")) / 2, float(svg.get("height")) / 2)
    into = [ln for ln in lines if (float(ln.get("x2")), float(ln.get("y2"))) == center]
    assert sorted(ln.get("data-type") for ln in into) == ["registered_by", "supplies", "supplies"]
    # Declared values (grade 2) are never drawn; the trade of 2026-11-02 shows only on its day.
    text = graph_picture.neighborhood_section(con, AS_OF)
    assert "1000000" not in text and "trades_with" not in text and "<script" not in text
    on_trade_day = graph_picture.neighborhood(con, f"enterprise:{CHEM}", dt.date(2026, 11, 2))
    assert "trades_with" in set(on_trade_day.edges["edge_type"])


def test_a_crowded_neighborhood_draws_the_first_ones_and_counts_the_rest(monkeypatch):
    con = connect(*province())
    monkeypatch.setattr(graph_picture, "MAX_NEIGHBORS", 4)
    hood = graph_picture.neighborhood(con, f"enterprise:{CHEM}", AS_OF)
    assert hood.nodes.height == 4 and hood.hidden == 6
    assert set(hood.edges["src"]) | set(hood.edges["dst"]) <= set(hood.nodes["node_id"]) | {hood.center}
    assert "(6 more neighbors not drawn)" in graph_picture.neighborhood_section(con, AS_OF)


def test_an_empty_graph_has_no_picture(tmp_path):
    con = connect(*province())
    con.execute("DELETE FROM graph.edge")
    assert graph_picture.best_connected(con, AS_OF) is None
    assert graph_picture.neighborhood_section(con, AS_OF) == ""
    assert graph_picture.directory_section(tmp_path / "absent.duckdb") == ""
