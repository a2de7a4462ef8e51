"""The industry-chain graph: declared links and trades as edges with industries, value and chain check."""

import datetime as dt

import polars as pl
import pytest

from assets.industry.supply_chain import (
    SupplierLinksError,
    read_supplier_links,
    supply_chain,
    value_between_industries,
)
from warehouse.codes import make_uscc
from warehouse.registry import SUPPLY_CHAIN_EDGES, SUPPLY_CHAIN_NODES

COKE = make_uscc("370102", "AA000001")  # 25 petroleum & coal processing, Jinan
CHEM = make_uscc("370302", "AA000002")  # 26 chemicals, Zibo
FIBRE = make_uscc("370502", "AA000003")  # 28 chemical fibres, Dongying
OUTSIDE = make_uscc("110105", "MA000004")  # not in the golden record

ENTERPRISES = pl.DataFrame(
    {
        "uscc": [COKE, CHEM, FIBRE],
        "name": ["焦化", "化工", "化纤"],
        "industry_code": ["25", "26", "28"],
        "city_code": ["3701", "3703", "3705"],
    }
)


def write_links(tmp_path, *rows: str):
    path = tmp_path / "supplier_links.csv"
    path.write_text(
        "buyer_uscc,supplier_uscc,material,annual_value_10k_cny,declared_on\n" + "\n".join(rows) + "\n"
    )
    return path


def test_edges_carry_industries_libraries_value_and_whether_they_follow_the_chain(tmp_path):
    links = read_supplier_links(
        write_links(
            tmp_path,
            f"{CHEM},{COKE},coke,120.5,2026-01-10",
            f"{FIBRE},{CHEM},PTA,300,2026-02-01",
            f"{COKE},{FIBRE},fibre bags,1,2026-02-01",  # 28 is not upstream of 25
            f"{FIBRE},{OUTSIDE},catalyst,2,2026-03-01",
            f"{CHEM},{COKE},coke,150,2026-06-30",  # re-declared: the latest wins
        ),
        ENTERPRISES["uscc"],
    )
    assert links.height == 4 and links["supplier_unknown"].sum() == 1
    trades = pl.DataFrame(
        {"seller_uscc": [CHEM, CHEM], "buyer_uscc": [FIBRE, FIBRE], "amount_cny": [1000.0, 500.0]}
    )
    edges, nodes = supply_chain(links, trades, ENTERPRISES)
    assert edges.schema == SUPPLY_CHAIN_EDGES.schema and nodes.schema == SUPPLY_CHAIN_NODES.schema
    e = {(r["relation"], r["from_uscc"], r["to_uscc"]): r for r in edges.iter_rows(named=True)}
    coke = e[("declared_supply", COKE, CHEM)]
    assert coke["value_cny"] == pytest.approx(1_500_000) and coke["on_chain"]
    assert (coke["from_industry"], coke["to_industry"], coke["from_library"]) == ("25", "26", "chemicals")
    assert not e[("declared_supply", FIBRE, COKE)]["on_chain"]
    assert e[("declared_supply", OUTSIDE, FIBRE)]["from_industry"] == "unknown"
    trade = e[("data_trade", CHEM, FIBRE)]
    assert trade["value_cny"] == 1500.0 and trade["transactions"] == 2
    n = {r["uscc"]: r for r in nodes.iter_rows(named=True)}
    assert n[FIBRE]["upstream_partners"] == 2 and n[FIBRE]["downstream_partners"] == 1
    assert n[FIBRE]["inflow_value_cny"] == pytest.approx(3_000_000 + 20_000 + 1500)
    assert n[OUTSIDE]["industry_code"] == "unknown" and n[OUTSIDE]["name"] is None
    top = value_between_industries(edges).row(0, named=True)
    assert (top["relation"], top["from_industry"], top["to_industry"], top["edges"]) == (
        "declared_supply",
        "26",
        "28",
        1,
    )


def test_a_bad_line_stops_the_load_and_names_the_line(tmp_path):
    path = write_links(
        tmp_path, f"{CHEM},{COKE},coke,1,2026-01-10", f"{CHEM},91370000BADBADBAD,coke,x,2026-13-01"
    )
    with pytest.raises(SupplierLinksError, match="line 3"):
        read_supplier_links(path, ENTERPRISES["uscc"])


def test_no_file_gives_empty_tables(tmp_path):
    links = read_supplier_links(tmp_path / "absent.csv", ENTERPRISES["uscc"])
    edges, nodes = supply_chain(
        links,
        pl.DataFrame(schema={"seller_uscc": pl.String, "buyer_uscc": pl.String, "amount_cny": pl.Float64}),
        ENTERPRISES,
    )
    assert links.is_empty() and edges.is_empty() and nodes.is_empty()


def test_the_simulator_declares_links_along_the_chain(tmp_path):
    from simulator import generate

    manifest = generate(
        tmp_path / "landing", tmp_path / "m.json", enterprises=30, days=1, start=dt.date(2026, 11, 1), seed=3
    )
    golden = pl.Series(manifest["registry"]["golden_usccs"])
    links = read_supplier_links(tmp_path / "landing" / "supply" / "supplier_links.csv", golden)
    assert links.height == manifest["supply"]["links"] > 0
    assert int(links["supplier_unknown"].sum()) == manifest["supply"]["unknown_suppliers"]
