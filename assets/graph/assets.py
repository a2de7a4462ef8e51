"""graph.node and graph.edge: the industrial knowledge graph (assets/graph/build.py)."""

import polars as pl
from dagster import AssetExecutionContext, multi_asset

from assets.gate import Gated, gate_partitions
from assets.graph.build import SOURCES, build_graph, read_sources
from assets.metadata import asset_spec, materialized, preview
from assets.resources import LakeResource
from quality.checks import checks_for
from warehouse.registry import GRAPH_EDGE, GRAPH_NODE


@multi_asset(
    specs=[
        asset_spec(GRAPH_NODE, deps=[s.asset_key for s in SOURCES.values()]),
        asset_spec(GRAPH_EDGE, deps=[s.asset_key for s in SOURCES.values()]),
    ],
    check_specs=[*checks_for(GRAPH_NODE), *checks_for(GRAPH_EDGE)],
    name="knowledge_graph",
)
def knowledge_graph(context: AssetExecutionContext, lake: LakeResource):
    """Nodes and edges, with provenance and validity, from the golden record, master data, production,
    trading, supplier links and the identifiers."""
    store = lake.lake
    nodes, edges = build_graph(**read_sources(store))
    gated = [Gated(GRAPH_NODE, nodes), Gated(GRAPH_EDGE, edges, checks={"context": {"nodes": nodes}})]
    evaluations = gate_partitions(store, lake.settings, gated, run_id=context.run_id)
    for g, evaluation, by in zip(gated, evaluations, ("node_type", "edge_type"), strict=True):
        version = store.overwrite(g.spec, g.df, run_id=context.run_id)
        yield materialized(g.spec, _graph_metadata(g.df, by, version), evaluation)


def _graph_metadata(df: pl.DataFrame, by: str, version: int) -> dict:
    return {
        "dagster/row_count": df.height,
        **{f"{by}/{k}": n for k, n in df.group_by(by).len().iter_rows()},
        "delta_version": version,
        "preview": preview(df),
    }
