"""Identifier and knowledge-graph rules: handles kept, edges between nodes, validity in order."""

from __future__ import annotations

import polars as pl

from quality.rules.spec import Expectation, PartitionOutcome, Rule
from warehouse.identifiers import HANDLE_PATTERN, STATUSES, TYPE_CODES
from warehouse.registry import GRAPH_EDGE, GRAPH_EDGE_TYPES, GRAPH_NODE, GRAPH_NODE_TYPES, IDENTIFIER


def handles_kept(identifiers: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Every handle issued before is still there, naming the same object since the same instant.

    ctx: `previous`, silver.identifier as it was before this build.
    """
    previous = ctx["previous"]
    joined = previous.join(identifiers, on="handle", how="left", suffix="_now")
    lost = joined.filter(
        pl.col("object_type_now").is_null()
        | (pl.col("object_type_now") != pl.col("object_type"))
        | (pl.col("object_key_now") != pl.col("object_key"))
        | (pl.col("issued_at_now") != pl.col("issued_at"))
    )
    sample = lost.select("handle", "object_type", "object_key", "object_key_now").head(10)
    return PartitionOutcome(
        previous.height,
        lost.height,
        lost.is_empty(),
        f"{lost.height} of {previous.height} handles issued earlier were dropped or changed",
        tuple(sample.to_dicts()),
    )


def edge_endpoints_are_nodes(edges: pl.DataFrame, ctx: dict) -> PartitionOutcome:
    """Both ends of every edge are nodes of graph.node (ctx: `nodes`)."""
    ids = ctx["nodes"]["node_id"].implode()
    dangling = edges.filter(~pl.col("src").is_in(ids) | ~pl.col("dst").is_in(ids))
    return PartitionOutcome(
        edges.height,
        dangling.height,
        dangling.is_empty(),
        f"{dangling.height} of {edges.height} edges end outside graph.node",
        tuple(dangling.select("edge_type", "src", "dst").head(10).to_dicts()),
    )


def edge_validity_ordered(edges: pl.DataFrame, _ctx: dict) -> PartitionOutcome:
    bad = edges.filter(pl.col("valid_to") < pl.col("valid_from"))
    return PartitionOutcome(
        edges.height,
        bad.height,
        bad.is_empty(),
        f"{bad.height} of {edges.height} edges end before they start",
        tuple(bad.select("edge_type", "src", "dst", "source_key").head(10).to_dicts()),
    )


IDENTIFIER_RULES: tuple[Rule, ...] = (
    Rule(
        "handle_well_formed",
        IDENTIFIER.name,
        "Every handle is 88.<secondary node>.<enterprise USCC>/<type>.<key> (warehouse/identifiers.py).",
        expectation=Expectation(
            "ExpectColumnValuesToMatchRegex", {"column": "handle", "regex": HANDLE_PATTERN}
        ),
    ),
    Rule(
        "handle_unique",
        IDENTIFIER.name,
        "A handle names one object.",
        expectation=Expectation("ExpectColumnValuesToBeUnique", {"column": "handle"}),
    ),
    Rule(
        "object_identified_once",
        IDENTIFIER.name,
        "An object has one handle.",
        expectation=Expectation(
            "ExpectCompoundColumnsToBeUnique", {"column_list": ["object_type", "object_key"]}
        ),
    ),
    Rule(
        "identifier_status_known",
        IDENTIFIER.name,
        "Status is active or revoked.",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "status", "value_set": list(STATUSES)}
        ),
    ),
    Rule(
        "identifier_type_known",
        IDENTIFIER.name,
        "The object type is one the resolver knows (enterprise, equipment, line, data_product).",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "object_type", "value_set": sorted(TYPE_CODES)}
        ),
    ),
    Rule(
        "handles_kept",
        IDENTIFIER.name,
        "Handles are issued once and kept: every handle issued earlier still names the same object with the "
        "same issued_at (a rebuild never changes or reissues one).",
        partition_check=handles_kept,
    ),
)


GRAPH_RULES: tuple[Rule, ...] = (
    Rule(
        "node_unique",
        GRAPH_NODE.name,
        "One row per node.",
        expectation=Expectation("ExpectColumnValuesToBeUnique", {"column": "node_id"}),
    ),
    Rule(
        "node_type_known",
        GRAPH_NODE.name,
        "Node types are the graph's eight kinds.",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "node_type", "value_set": list(GRAPH_NODE_TYPES)}
        ),
    ),
    Rule(
        "edge_type_known",
        GRAPH_EDGE.name,
        "Edge types are the graph's seven relations.",
        expectation=Expectation(
            "ExpectColumnValuesToBeInSet", {"column": "edge_type", "value_set": list(GRAPH_EDGE_TYPES)}
        ),
    ),
    Rule(
        "edge_has_provenance",
        GRAPH_EDGE.name,
        "Every edge names the table and the row key it was read from.",
        expectation=Expectation("ExpectColumnValuesToNotBeNull", {"column": "source_key"}),
    ),
    Rule(
        "edge_validity_ordered",
        GRAPH_EDGE.name,
        "An edge's validity period does not end before it starts.",
        partition_check=edge_validity_ordered,
    ),
    Rule(
        "edge_endpoints_are_nodes",
        GRAPH_EDGE.name,
        "Both ends of every edge are nodes (no dangling edge).",
        partition_check=edge_endpoints_are_nodes,
    ),
)
