"""graph.node and graph.edge: the industrial knowledge graph (assets/graph/build.py)."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, multi_asset

from assets.graph.build import build_graph
from assets.metadata import asset_spec, preview
from assets.resources import LakeResource
from quality.checks import checks_for, evaluate
from warehouse.registry import (
    DATA_PRODUCT,
    ENTERPRISE,
    EQUIPMENT,
    GRAPH_EDGE,
    GRAPH_NODE,
    IDENTIFIER,
    QUALITY_RESULTS,
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
    gx = lake.settings.gx_home
    ev_nodes = evaluate(GRAPH_NODE, nodes, partition="current", run_id=context.run_id, gx_home=gx)
    ev_edges = evaluate(
        GRAPH_EDGE, edges, partition="current", run_id=context.run_id, gx_home=gx, context={"nodes": nodes}
    )
    store.upsert(QUALITY_RESULTS, pl.concat([ev_nodes.results, ev_edges.results]), run_id=context.run_id)
    versions = [store.overwrite(GRAPH_NODE, nodes, run_id=context.run_id)]
    versions.append(store.overwrite(GRAPH_EDGE, edges, run_id=context.run_id))
    for spec, df, version, ev, by in (
        (GRAPH_NODE, nodes, versions[0], ev_nodes, "node_type"),
        (GRAPH_EDGE, edges, versions[1], ev_edges, "edge_type"),
    ):
        yield MaterializeResult(
            asset_key=spec.asset_key,
            metadata={
                "dagster/row_count": df.height,
                **{f"{by}/{k}": n for k, n in df.group_by(by).len().iter_rows()},
                "delta_version": version,
                "preview": preview(df),
            },
            check_results=ev.check_results,
        )
