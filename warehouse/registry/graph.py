"""Identifier handles and their resolution counts, and the industrial knowledge graph."""

from __future__ import annotations

import polars as pl

from warehouse.registry.spec import UTC_TS, TableSpec, cols

IDENTIFIER = TableSpec(
    name="silver.identifier",
    description=(
        "Industrial-internet identifiers (工业互联网标识解析): one handle 88.<node>.<USCC>/<object> per enterprise, "
        "equipment, production line and registered data product, issued once and kept; revoked when the "
        "object is gone, deregistered or its registration revoked (warehouse/identifiers.py)."
    ),
    domain="management",
    grade=1,
    owner="identifier-node",
    key=("handle",),
    columns=cols(
        ("handle", pl.String, "The handle, 88.<secondary node>.<enterprise USCC>/<type>.<key>"),
        ("object_type", pl.String, "enterprise | equipment | line | data_product"),
        ("object_key", pl.String, "Stable business key: USCC, equipment id, line id or product id"),
        ("uscc", pl.String, "Enterprise the object belongs to (the prefix's enterprise node)"),
        ("issued_at", UTC_TS, "When the handle was first issued (never changes)"),
        ("status", pl.String, "active | revoked"),
        ("revoked_at", UTC_TS, "When the handle was last found revoked; null while active"),
    ),
)


IDENTIFIER_RESOLUTION = TableSpec(
    name="catalog.identifier_resolution",
    description=(
        "Resolutions answered by the identifier resolver, counted per local day, object type, outcome and "
        "audience; one row per flush (sum them). Nothing about the caller is kept."
    ),
    domain="operations",
    grade=1,
    owner="identifier-node",
    partition_by="day",
    key=("day", "object_type", "outcome", "audience", "flushed_at"),
    columns=cols(
        ("day", pl.Date, "Local day (Asia/Shanghai) of the resolutions"),
        ("object_type", pl.String, "enterprise | equipment | line | data_product | unknown (malformed)"),
        ("outcome", pl.String, "resolved | not_found | revoked | malformed"),
        ("audience", pl.String, "anonymous | peer (an authenticated node)"),
        ("resolutions", pl.Int64, "Handles resolved in this flush interval"),
        ("flushed_at", UTC_TS, "When the resolver committed the counts"),
    ),
)


GRAPH_NODE_TYPES = (
    "enterprise",
    "equipment",
    "line",
    "product",
    "data_product",
    "industry",
    "city",
    "material",
)


GRAPH_EDGE_TYPES = (
    "owns",
    "part_of",
    "supplies",
    "trades_with",
    "registered_by",
    "located_in",
    "belongs_to_industry",
)


GRAPH_NODE = TableSpec(
    name="graph.node",
    description="Industrial knowledge graph, nodes: enterprises, equipment, lines, products, data products, "
    "industries, cities and materials from the libraries, each with its identifier handle where it has one.",
    domain="management",
    grade=1,
    owner="industry-libraries",
    key=("node_id",),
    columns=cols(
        ("node_id", pl.String, "<type>:<key>, e.g. enterprise:<USCC>, equipment:EQ100001, city:3703"),
        (
            "node_type",
            pl.String,
            "enterprise | equipment | line | product | data_product | industry | city | material",
        ),
        ("label", pl.String, "Name, title or code to show"),
        ("handle", pl.String, "Identifier handle (silver.identifier) of the object, if issued"),
        (
            "uscc",
            pl.String,
            "Enterprise the node belongs to (enterprise, equipment, line, product, data product)",
        ),
        ("industry_code", pl.String, "GB/T 4754 division (enterprise: current; industry: itself)"),
        ("city_code", pl.String, "Prefecture (GB/T 2260)"),
        ("source_table", pl.String, "Table the node comes from"),
    ),
)


GRAPH_EDGE = TableSpec(
    name="graph.edge",
    description="Industrial knowledge graph, edges with provenance (source table and key) and validity period; "
    "supply edges point upstream -> downstream (supplier -> buyer).",
    domain="management",
    grade=2,  # who supplies whom, with declared values (silver.supplier_link is grade 2)
    owner="industry-libraries",
    key=("edge_type", "src", "dst", "source_key"),
    columns=cols(
        (
            "edge_type",
            pl.String,
            "owns | part_of | supplies | trades_with | registered_by | located_in | belongs_to_industry",
        ),
        ("src", pl.String, "From node_id (supplies/trades_with: the upstream side)"),
        ("dst", pl.String, "To node_id"),
        ("src_type", pl.String, "node_type of src"),
        ("dst_type", pl.String, "node_type of dst"),
        ("material", pl.String, "What is supplied (supplies between enterprises)"),
        ("value_cny", pl.Float64, "Declared annual value (supplies) or trade amount (trades_with)", 2),
        ("source_table", pl.String, "Provenance: the table the edge was read from"),
        ("source_key", pl.String, "Provenance: the key of the row in that table (key columns joined by |)"),
        ("valid_from", pl.Date, "First day the edge holds (null: since before the records)"),
        ("valid_to", pl.Date, "First day it no longer holds; null while it holds"),
    ),
)


IDENTIFIER_TABLES = (IDENTIFIER, IDENTIFIER_RESOLUTION)


GRAPH_TABLES = (GRAPH_NODE, GRAPH_EDGE)
