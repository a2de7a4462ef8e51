"""The industry-chain view: who supplies whom, across which industries, and how much value flows.

Two kinds of edge, upstream -> downstream: the supplier links enterprises declare (goods, annual value)
and the province's clean data-product trades (seller -> buyer, value of the trades). Analysts query the
graph as `industry.supply_chain_edges` and `industry.supply_chain_nodes`, e.g. value flowing from one
division to another: SELECT from_industry, to_industry, sum(value_cny) FROM industry.supply_chain_edges
GROUP BY ALL.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from warehouse.codes import uscc_problem
from warehouse.domain import INDUSTRY_CHAIN, INDUSTRY_LIBRARIES
from warehouse.registry import SUPPLIER_LINK, SUPPLY_CHAIN_EDGES, SUPPLY_CHAIN_NODES

UNKNOWN = "unknown"
_LIBRARY_OF = {d: lib for lib, divisions in INDUSTRY_LIBRARIES.items() for d in divisions}
_CHAIN = pl.DataFrame(
    [(up, down) for down, ups in INDUSTRY_CHAIN.items() for up in ups],
    schema={"from_industry": pl.String, "to_industry": pl.String},
    orient="row",
)


class SupplierLinksError(ValueError):
    """The declarations file cannot be used as it is; the message names the lines and the problem."""


def read_supplier_links(path: Path, golden_usccs: pl.Series) -> pl.DataFrame:
    """silver.supplier_link from landing/supply/supplier_links.csv; a bad line stops the load with its number."""
    if not path.exists():
        return pl.DataFrame(schema=SUPPLIER_LINK.schema)
    raw = pl.read_csv(path, infer_schema=False).with_row_index("line_no", offset=2)
    problems = [
        f"line {n}: {col} {code!r} ({why})"
        for n, b, s in raw.select("line_no", "buyer_uscc", "supplier_uscc").iter_rows()
        for col, code in (("buyer_uscc", b), ("supplier_uscc", s))
        if (why := uscc_problem(code))
    ]
    value = pl.col("annual_value_10k_cny").cast(pl.Float64, strict=False)
    declared = pl.col("declared_on").str.to_date("%Y-%m-%d", strict=False)
    bad_value = raw.filter(value.is_null() | (value < 0) | declared.is_null())["line_no"].to_list()
    problems += [f"line {n}: annual value or declaration date unreadable" for n in bad_value]
    if problems:
        raise SupplierLinksError(f"{path.name}: {len(problems)} problem(s): " + "; ".join(problems[:10]))
    links = raw.select(
        "buyer_uscc",
        "supplier_uscc",
        "material",
        (value * 10_000).alias("annual_value_cny"),
        declared.alias("declared_on"),
        (~pl.col("supplier_uscc").is_in(golden_usccs.implode())).alias("supplier_unknown"),
        pl.col("line_no").cast(pl.Int64),
    )
    # One declaration per buyer and supplier: the latest wins (a re-declaration updates the value).
    return (
        links.sort("declared_on", "line_no")
        .unique(["buyer_uscc", "supplier_uscc"], keep="last")
        .sort("buyer_uscc", "supplier_uscc")
    )


def supply_chain(
    links: pl.DataFrame, trades: pl.DataFrame, enterprises: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Edges and nodes of the industry-chain graph (enterprises: current golden records)."""
    declared = links.select(
        pl.lit("declared_supply").alias("relation"),
        pl.col("supplier_uscc").alias("from_uscc"),
        pl.col("buyer_uscc").alias("to_uscc"),
        pl.col("annual_value_cny").alias("value_cny"),
        pl.lit(1, pl.Int64).alias("transactions"),
    )
    traded = trades.group_by(
        pl.col("seller_uscc").alias("from_uscc"), pl.col("buyer_uscc").alias("to_uscc")
    ).agg(pl.col("amount_cny").sum().alias("value_cny"), pl.len().cast(pl.Int64).alias("transactions"))
    traded = traded.select(
        pl.lit("data_trade").alias("relation"), "from_uscc", "to_uscc", "value_cny", "transactions"
    )
    ent = enterprises.select("uscc", "industry_code", "city_code")

    def side(prefix: str) -> pl.DataFrame:
        return ent.rename(
            {"uscc": f"{prefix}_uscc", "industry_code": f"{prefix}_industry", "city_code": f"{prefix}_city"}
        )

    edges = (
        pl.concat([declared, traded])
        .join(side("from"), on="from_uscc", how="left")
        .join(side("to"), on="to_uscc", how="left")
        .with_columns(pl.col("^(from|to)_(industry|city)$").fill_null(UNKNOWN))
        .with_columns(
            pl.col("from_industry").replace_strict(_LIBRARY_OF, default="other").alias("from_library"),
            pl.col("to_industry").replace_strict(_LIBRARY_OF, default="other").alias("to_library"),
        )
        .join(
            _CHAIN.with_columns(pl.lit(True).alias("on_chain")),
            on=["from_industry", "to_industry"],
            how="left",
        )
        .with_columns(pl.col("on_chain").fill_null(False))
        .select(list(SUPPLY_CHAIN_EDGES.schema))
        .sort("relation", "from_uscc", "to_uscc")
    )
    out = edges.group_by(pl.col("from_uscc").alias("uscc")).agg(
        pl.col("to_uscc").n_unique().cast(pl.Int64).alias("downstream_partners"),
        pl.col("value_cny").sum().alias("outflow_value_cny"),
    )
    inn = edges.group_by(pl.col("to_uscc").alias("uscc")).agg(
        pl.col("from_uscc").n_unique().cast(pl.Int64).alias("upstream_partners"),
        pl.col("value_cny").sum().alias("inflow_value_cny"),
    )
    nodes = (
        pl.concat(
            [edges.select(pl.col("from_uscc").alias("uscc")), edges.select(pl.col("to_uscc").alias("uscc"))]
        )
        .unique()
        .join(enterprises.select("uscc", "name", "industry_code", "city_code"), on="uscc", how="left")
        .with_columns(pl.col("industry_code", "city_code").fill_null(UNKNOWN))
        .with_columns(pl.col("industry_code").replace_strict(_LIBRARY_OF, default="other").alias("library"))
        .join(inn, on="uscc", how="left")
        .join(out, on="uscc", how="left")
        .with_columns(
            pl.col("upstream_partners", "downstream_partners").fill_null(0),
            pl.col("inflow_value_cny", "outflow_value_cny").fill_null(0.0),
        )
        .select(list(SUPPLY_CHAIN_NODES.schema))
        .sort("uscc")
    )
    return edges, nodes


def value_between_industries(edges: pl.DataFrame) -> pl.DataFrame:
    """Value and edge count per relation and pair of divisions, largest first (the chain at a glance)."""
    return (
        edges.group_by("relation", "from_industry", "to_industry")
        .agg(pl.col("value_cny").sum().round(0), pl.len().alias("edges"))
        .sort("value_cny", "relation", "from_industry", "to_industry", descending=[True, False, False, False])
    )
