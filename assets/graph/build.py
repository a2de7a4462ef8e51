"""The industrial knowledge graph (graph.node, graph.edge), built from the libraries.

Nodes are `<type>:<key>`: enterprise:<USCC>, equipment:<id>, line:<id>, product:<name>,
data_product:<id>, industry:<GB/T 4754 division>, city:<GB/T 2260 prefecture>, material:<name>.
Edges, each with its provenance (source table and the key of the row) and validity [valid_from, valid_to):

| edge | from -> to | source |
|---|---|---|
| owns | enterprise -> equipment, enterprise -> line | silver.equipment |
| part_of | equipment -> line (ISA-95); product -> line (made on it) | silver.equipment, silver.production |
| supplies | enterprise -> enterprise (supplier -> buyer), enterprise -> material | silver.supplier_link |
| trades_with | enterprise -> enterprise (seller -> buyer), one per trade | silver.trade |
| registered_by | data_product -> enterprise (its provider registered it) | silver.data_product |
| located_in | enterprise -> city, one per golden-record version | silver.enterprise |
| belongs_to_industry | enterprise -> industry (per version), material -> industry | silver.enterprise, silver.supplier_link |

The golden record's SCD2 versions become edges with their own validity, so an enterprise that changed
industry has two belongs_to_industry edges, the earlier one closed. Suppliers outside the golden record
stay as enterprise nodes without a label (as silver.supplier_link keeps and flags them).
"""

from __future__ import annotations

import polars as pl

from warehouse.domain import CITIES, INDUSTRIES
from warehouse.registry import (
    DATA_PRODUCT,
    ENTERPRISE,
    EQUIPMENT,
    GRAPH_EDGE,
    GRAPH_NODE,
    IDENTIFIER,
    SILVER_PRODUCTION,
    SUPPLIER_LINK,
    TRADE,
    TableSpec,
)
from warehouse.storage import Lake

_E, _N = dict(GRAPH_EDGE.schema), dict(GRAPH_NODE.schema)


def node_id(kind: str, key: str | pl.Expr) -> pl.Expr:
    key = pl.col(key) if isinstance(key, str) else key
    return pl.concat_str(pl.lit(f"{kind}:"), key)


def _edges(
    df: pl.DataFrame,
    edge_type: str,
    src: pl.Expr,
    src_type: str,
    dst: pl.Expr,
    dst_type: str,
    source_table: str,
    source_key: pl.Expr,
    *,
    valid_from: pl.Expr | None = None,
    valid_to: pl.Expr | None = None,
    material: pl.Expr | None = None,
    value: pl.Expr | None = None,
) -> pl.DataFrame:
    return df.select(
        pl.lit(edge_type).alias("edge_type"),
        src.alias("src"),
        dst.alias("dst"),
        pl.lit(src_type).alias("src_type"),
        pl.lit(dst_type).alias("dst_type"),
        (material if material is not None else pl.lit(None, pl.String)).alias("material"),
        (value if value is not None else pl.lit(None, pl.Float64)).alias("value_cny"),
        pl.lit(source_table).alias("source_table"),
        source_key.cast(pl.String).alias("source_key"),
        (valid_from if valid_from is not None else pl.lit(None, pl.Date)).alias("valid_from"),
        (valid_to if valid_to is not None else pl.lit(None, pl.Date)).alias("valid_to"),
    ).cast(_E)


# build_graph's inputs: keyword -> the table it is read from.
SOURCES: dict[str, TableSpec] = {
    "enterprises": ENTERPRISE,
    "equipment": EQUIPMENT,
    "production": SILVER_PRODUCTION,
    "products": DATA_PRODUCT,
    "trades": TRADE,
    "links": SUPPLIER_LINK,
    "identifiers": IDENTIFIER,
}


def read_sources(store: Lake) -> dict[str, pl.DataFrame]:
    """build_graph's keyword arguments from the lake; a table never built reads as empty, so the graph
    holds whatever the sources built so far."""
    return {
        k: store.read(s) if store.exists(s) else pl.DataFrame(schema=s.schema) for k, s in SOURCES.items()
    }


def build_graph(
    *,
    enterprises: pl.DataFrame,
    equipment: pl.DataFrame,
    production: pl.DataFrame,
    products: pl.DataFrame,
    trades: pl.DataFrame,
    links: pl.DataFrame,
    identifiers: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """graph.node and graph.edge. enterprises: every SCD2 version of silver.enterprise."""
    current = enterprises.filter(pl.col("valid_to").is_null())
    made = (
        production.filter(pl.col("product").is_not_null())
        .group_by("line_id", "uscc", "product")
        .agg(pl.col("day").min().alias("first_day"))
    )
    edges = pl.concat(
        [
            _edges(
                equipment,
                "owns",
                node_id("enterprise", "uscc"),
                "enterprise",
                node_id("equipment", "equipment_id"),
                "equipment",
                "silver.equipment",
                pl.col("equipment_id"),
            ),
            _edges(
                equipment.unique(["uscc", "line_id"]),
                "owns",
                node_id("enterprise", "uscc"),
                "enterprise",
                node_id("line", "line_id"),
                "line",
                "silver.equipment",
                pl.col("line_id"),
            ),
            _edges(
                equipment,
                "part_of",
                node_id("equipment", "equipment_id"),
                "equipment",
                node_id("line", "line_id"),
                "line",
                "silver.equipment",
                pl.col("equipment_id"),
            ),
            _edges(
                made,
                "part_of",
                node_id("product", "product"),
                "product",
                node_id("line", "line_id"),
                "line",
                "silver.production",
                pl.concat_str("line_id", "product", separator="|"),
                valid_from=pl.col("first_day"),
            ),
            _edges(
                links,
                "supplies",
                node_id("enterprise", "supplier_uscc"),
                "enterprise",
                node_id("enterprise", "buyer_uscc"),
                "enterprise",
                "silver.supplier_link",
                pl.concat_str("buyer_uscc", "supplier_uscc", separator="|"),
                valid_from=pl.col("declared_on"),
                material=pl.col("material"),
                value=pl.col("annual_value_cny"),
            ),
            _edges(
                links,
                "supplies",
                node_id("enterprise", "supplier_uscc"),
                "enterprise",
                node_id("material", "material"),
                "material",
                "silver.supplier_link",
                pl.concat_str("buyer_uscc", "supplier_uscc", separator="|"),
                valid_from=pl.col("declared_on"),
                material=pl.col("material"),
            ),
            _edges(
                trades,
                "trades_with",
                node_id("enterprise", "seller_uscc"),
                "enterprise",
                node_id("enterprise", "buyer_uscc"),
                "enterprise",
                "silver.trade",
                pl.col("trade_id"),
                valid_from=pl.col("day"),
                valid_to=pl.col("day").dt.offset_by("1d"),
                material=pl.lit("data product"),
                value=pl.col("amount_cny"),
            ),
            _edges(
                products.filter(pl.col("registration_no").is_not_null()),
                "registered_by",
                node_id("data_product", "product_id"),
                "data_product",
                node_id("enterprise", "provider_uscc"),
                "enterprise",
                "silver.data_product",
                pl.col("product_id"),
                valid_from=pl.col("registered_at").dt.date(),
                valid_to=pl.min_horizontal(pl.col("revoked_at"), pl.col("expired_at")).dt.date(),
            ),
            _edges(
                enterprises,
                "located_in",
                node_id("enterprise", "uscc"),
                "enterprise",
                node_id("city", "city_code"),
                "city",
                "silver.enterprise",
                pl.concat_str("uscc", pl.col("valid_from").cast(pl.String), separator="|"),
                valid_from=pl.col("valid_from"),
                valid_to=pl.col("valid_to"),
            ),
            _edges(
                enterprises,
                "belongs_to_industry",
                node_id("enterprise", "uscc"),
                "enterprise",
                node_id("industry", "industry_code"),
                "industry",
                "silver.enterprise",
                pl.concat_str("uscc", pl.col("valid_from").cast(pl.String), separator="|"),
                valid_from=pl.col("valid_from"),
                valid_to=pl.col("valid_to"),
            ),
        ]
    )
    # A material belongs to the industry of the suppliers that supply it (current golden record).
    material_industry = (
        links.join(current.select(pl.col("uscc").alias("supplier_uscc"), "industry_code"), on="supplier_uscc")
        .unique(["material", "industry_code"])
        .sort("material", "industry_code")
    )
    edges = pl.concat(
        [
            edges,
            _edges(
                material_industry,
                "belongs_to_industry",
                node_id("material", "material"),
                "material",
                node_id("industry", "industry_code"),
                "industry",
                "silver.supplier_link",
                pl.concat_str("material", "industry_code", separator="|"),
            ),
        ]
    )
    edges = (
        edges.filter(pl.col("src").is_not_null() & pl.col("dst").is_not_null())
        .unique(["edge_type", "src", "dst", "source_key"], keep="first", maintain_order=True)
        .sort("edge_type", "src", "dst", "source_key")
    )
    nodes = _nodes(edges, current, equipment, products, identifiers)
    return nodes, edges


def _nodes(
    edges: pl.DataFrame,
    current: pl.DataFrame,
    equipment: pl.DataFrame,
    products: pl.DataFrame,
    identifiers: pl.DataFrame,
) -> pl.DataFrame:
    ends = pl.concat(
        [
            edges.select(pl.col("src").alias("node_id"), pl.col("src_type").alias("node_type")),
            edges.select(pl.col("dst").alias("node_id"), pl.col("dst_type").alias("node_type")),
        ]
    ).unique("node_id")
    key = pl.col("node_id").str.splitn(":", 2).struct.field("field_1").alias("key")
    ends = ends.with_columns(key)
    ent = current.select(
        pl.col("uscc").alias("key"),
        pl.col("name").alias("e_label"),
        pl.col("uscc").alias("e_uscc"),
        pl.col("industry_code").alias("e_industry"),
        pl.col("city_code").alias("e_city"),
    )
    eq = equipment.select(
        pl.col("equipment_id").alias("key"),
        pl.concat_str("equipment_type", "equipment_id", separator=" ").alias("q_label"),
        pl.col("uscc").alias("q_uscc"),
    )
    ln = equipment.group_by(pl.col("line_id").alias("key")).agg(pl.col("uscc").sort().first().alias("l_uscc"))
    dp = products.select(
        pl.col("product_id").alias("key"),
        pl.col("title").alias("d_label"),
        pl.col("provider_uscc").alias("d_uscc"),
    )
    handles = identifiers.select(
        pl.concat_str(
            pl.col("object_type").replace({"data_product": "data_product"}), pl.lit(":"), "object_key"
        ).alias("node_id"),
        "handle",
    )
    kinds = pl.col("node_type")
    nodes = (
        ends.join(ent, on="key", how="left")
        .join(eq, on="key", how="left")
        .join(ln, on="key", how="left")
        .join(dp, on="key", how="left")
        .join(handles, on="node_id", how="left")
        .with_columns(
            pl.when(kinds == "enterprise")
            .then(pl.col("e_label"))
            .when(kinds == "equipment")
            .then(pl.col("q_label"))
            .when(kinds == "data_product")
            .then(pl.col("d_label"))
            .when(kinds == "industry")
            .then(pl.col("key").replace_strict(INDUSTRIES, default=pl.col("key")))
            .when(kinds == "city")
            .then(pl.col("key").replace_strict(CITIES, default=pl.col("key")))
            .otherwise(pl.col("key"))
            .alias("label"),
            pl.when(kinds == "enterprise")
            .then(pl.col("key"))
            .when(kinds == "equipment")
            .then(pl.col("q_uscc"))
            .when(kinds == "line")
            .then(pl.col("l_uscc"))
            .when(kinds == "data_product")
            .then(pl.col("d_uscc"))
            .alias("uscc"),
            pl.when(kinds == "enterprise")
            .then(pl.col("e_industry"))
            .when(kinds == "industry")
            .then(pl.col("key"))
            .alias("industry_code"),
            pl.when(kinds == "enterprise")
            .then(pl.col("e_city"))
            .when(kinds == "city")
            .then(pl.col("key"))
            .alias("city_code"),
            pl.col("node_type")
            .replace_strict(
                {
                    "enterprise": "silver.enterprise",
                    "equipment": "silver.equipment",
                    "line": "silver.equipment",
                    "product": "silver.production",
                    "data_product": "silver.data_product",
                    "industry": "warehouse.domain.INDUSTRIES",
                    "city": "warehouse.domain.CITIES",
                    "material": "silver.supplier_link",
                },
                default=None,
            )
            .alias("source_table"),
        )
    )
    # product nodes of an enterprise: the uscc of the line they are made on
    return nodes.select(list(_N)).cast(_N).sort("node_id")
