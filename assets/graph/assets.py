"""graph.node and graph.edge: the industrial knowledge graph (assets/graph/build.py)."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, multi_asset

from assets.gate import Gated, gate_partitions
from assets.graph.build import build_graph
from assets.metadata import asset_spec, preview
from assets.resources import LakeResource
from quality.checks import checks_for
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
)

_SOURCES = (ENTERPRISE, EQUIPMENT, SILVER_PRODUCTION, DATA_PRODUCT, TRADE, SUPPLIER_LINK, IDENTIFIER)


@multi_asset(
    specs=[
        asset_spec(GRAPH_NODE, deps=[s.asset_key for s in _SOURCES]),
        asset_spec(GRAPH_EDGE, deps=[s.asset_key for s in _SOURCES]),
    ],
    check_specs=[*checks_for(GRAPH_NODE), *checks_for(GRAPH_EDGE)],
    name="knowledge_graph",
)
def knowledge_graph(context: AssetExecutionContext, lake: LakeResource):
    """Nodes and edges, with provenance and validity, from the golden record, master data, production,
    trading, supplier links and the identifiers."""
    store = lake.lake
    read = {s.name: store.read(s) if store.exists(s) else pl.DataFrame(schema=s.schema) for s in _SOURCES}
    nodes, edges = build_graph(
        enterprises=read[ENTERPRISE.name],
        equipment=read[EQUIPMENT.name],
        production=read[SILVER_PRODUCTION.name],
        products=read[DATA_PRODUCT.name],
        trades=read[TRADE.name],
        links=read[SUPPLIER_LINK.name],
        identifiers=read[IDENTIFIER.name],
    )
    gated = [Gated(GRAPH_NODE, nodes), Gated(GRAPH_EDGE, edges, checks={"context": {"nodes": nodes}})]
    evaluations = gate_partitions(store, lake.settings, gated, run_id=context.run_id)
    for g, evaluation, by in zip(gated, evaluations, ("node_type", "edge_type"), strict=True):
        version = store.overwrite(g.spec, g.df, run_id=context.run_id)
        yield MaterializeResult(
            asset_key=g.spec.asset_key,
            metadata={
                "dagster/row_count": g.df.height,
                **{f"{by}/{k}": n for k, n in g.df.group_by(by).len().iter_rows()},
                "delta_version": version,
                "preview": preview(g.df),
            },
            check_results=evaluation.check_results,
        )
