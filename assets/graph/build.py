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


Kind = tuple[str, str]  # a node end of an edge: (node type, the column holding its key)


def _edges(
    df: pl.DataFrame,
    edge_type: str,
    src: Kind,
    dst: Kind,
    source: TableSpec,
    source_key: pl.Expr,
    *,
    valid_from: pl.Expr | None = None,
    valid_to: pl.Expr | None = None,
    material: pl.Expr | None = None,
    value: pl.Expr | None = None,
) -> pl.DataFrame:
    """One edge per row of `df`, from node `src` to node `dst`, with its provenance (table and key)."""
    return df.select(
        pl.lit(edge_type).alias("edge_type"),
        node_id(*src).alias("src"),
        node_id(*dst).alias("dst"),
        pl.lit(src[0]).alias("src_type"),
        pl.lit(dst[0]).alias("dst_type"),
        (material if material is not None else pl.lit(None, pl.String)).alias("material"),
        (value if value is not None else pl.lit(None, pl.Float64)).alias("value_cny"),
        pl.lit(source.name).alias("source_table"),
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
    ent, supplier = ("enterprise", "uscc"), ("enterprise", "supplier_uscc")
    # one edge per golden-record version, valid as long as the version
    version = pl.concat_str("uscc", pl.col("valid_from").cast(pl.String), separator="|")
    versioned = {"valid_from": pl.col("valid_from"), "valid_to": pl.col("valid_to")}
    # one edge per declared supply link, to the buyer (with its value) and to the material
    link = pl.concat_str("buyer_uscc", "supplier_uscc", separator="|")
    declared = {"valid_from": pl.col("declared_on"), "material": pl.col("material")}
    lines = equipment.unique(["uscc", "line_id"])
    edges = pl.concat(
        [
            _edges(equipment, "owns", ent, ("equipment", "equipment_id"), EQUIPMENT, pl.col("equipment_id")),
            _edges(lines, "owns", ent, ("line", "line_id"), EQUIPMENT, pl.col("line_id")),
            _edges(
                equipment,
                "part_of",
                ("equipment", "equipment_id"),
                ("line", "line_id"),
                EQUIPMENT,
                pl.col("equipment_id"),
            ),
            _edges(
                made,
                "part_of",
                ("product", "product"),
                ("line", "line_id"),
                SILVER_PRODUCTION,
                pl.concat_str("line_id", "product", separator="|"),
                valid_from=pl.col("first_day"),
            ),
            _edges(
                links,
                "supplies",
                supplier,
                ("enterprise", "buyer_uscc"),
                SUPPLIER_LINK,
                link,
                **declared,
                value=pl.col("annual_value_cny"),
            ),
            _edges(links, "supplies", supplier, ("material", "material"), SUPPLIER_LINK, link, **declared),
            _edges(
                trades,
                "trades_with",
                ("enterprise", "seller_uscc"),
                ("enterprise", "buyer_uscc"),
                TRADE,
                pl.col("trade_id"),
                valid_from=pl.col("day"),
                valid_to=pl.col("day").dt.offset_by("1d"),
                material=pl.lit("data product"),
                value=pl.col("amount_cny"),
            ),
            _edges(
                products.filter(pl.col("registration_no").is_not_null()),
                "registered_by",
                ("data_product", "product_id"),
                ("enterprise", "provider_uscc"),
                DATA_PRODUCT,
                pl.col("product_id"),
                valid_from=pl.col("registered_at").dt.date(),
                valid_to=pl.min_horizontal(pl.col("revoked_at"), pl.col("expired_at")).dt.date(),
            ),
            _edges(enterprises, "located_in", ent, ("city", "city_code"), ENTERPRISE, version, **versioned),
            _edges(
                enterprises,
                "belongs_to_industry",
                ent,
                ("industry", "industry_code"),
                ENTERPRISE,
                version,
                **versioned,
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
                ("material", "material"),
                ("industry", "industry_code"),
                SUPPLIER_LINK,
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


def _by_type(name: str, other: pl.Expr | None = None, /, **value_of: pl.Expr) -> pl.Expr:
    """Column `name` of a node: the expression given for its node type, `other` (or null) for the rest."""
    kinds = pl.col("node_type")
    (first, value), *rest = value_of.items()
    chosen = pl.when(kinds == first).then(value)
    for kind, value in rest:
        chosen = chosen.when(kinds == kind).then(value)
    return (chosen if other is None else chosen.otherwise(other)).alias(name)


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
    key = pl.col("key")
    nodes = (
        ends.join(ent, on="key", how="left")
        .join(eq, on="key", how="left")
        .join(ln, on="key", how="left")
        .join(dp, on="key", how="left")
        .join(handles, on="node_id", how="left")
        .with_columns(
            _by_type(
                "label",
                key,
                enterprise=pl.col("e_label"),
                equipment=pl.col("q_label"),
                data_product=pl.col("d_label"),
                industry=key.replace_strict(INDUSTRIES, default=key),
                city=key.replace_strict(CITIES, default=key),
            ),
            _by_type(
                "uscc",
                enterprise=key,
                equipment=pl.col("q_uscc"),
                line=pl.col("l_uscc"),
                data_product=pl.col("d_uscc"),
            ),
            _by_type("industry_code", enterprise=pl.col("e_industry"), industry=key),
            _by_type("city_code", enterprise=pl.col("e_city"), city=key),
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
