"""`lakehouse graph ...` (the industrial knowledge graph) and `lakehouse resolver serve` (identifiers).

Wired into the main CLI as `app.add_typer(graph_app, name="graph")` and `app.add_typer(resolver_app, ...)`.
Graph queries read graph.node/graph.edge from the analysts' DuckDB file (warehouse.serving.session.connect).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer._click import exceptions as click

from warehouse.settings import settings

console = Console(width=None if sys.stdout.isatty() else 140)
graph_app = typer.Typer(
    help="The industrial knowledge graph: supply chains, exposure, paths, GraphML.", no_args_is_help=True
)
resolver_app = typer.Typer(help="The identifier resolver (工业互联网标识解析).", no_args_is_help=True)

_Format = Annotated[str, typer.Option("--format", "-f", help="table | csv | json")]
_Trades = Annotated[bool, typer.Option("--trades", help="Also follow data-product trades (seller -> buyer)")]
_AsOf = Annotated[
    str | None, typer.Option("--as-of", help="Edges valid on this day (YYYY-MM-DD); default today")
]


def _connect():
    from warehouse.graph import connect

    return connect(settings().warehouse_db)


def _relations(trades: bool) -> tuple[str, ...]:
    return ("supplies", "trades_with") if trades else ("supplies",)


def _day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise click.UsageError(f"--as-of {text!r} is not YYYY-MM-DD") from None


def _run(fn):
    from warehouse.graph import GraphQueryError

    try:
        return fn()
    except GraphQueryError as exc:
        raise click.UsageError(str(exc)) from None


def _print(df, title: str, fmt: str) -> None:
    from orchestration.cli_output import print_frame

    print_frame(df, title=title, fmt=fmt)


@graph_app.command("neighbors")
def neighbors(
    enterprise: Annotated[str, typer.Argument(help="USCC, enterprise:<USCC> or its identifier handle")],
    hops: Annotated[int, typer.Option(help="Up to this many hops")] = 3,
    direction: Annotated[str, typer.Option(help="upstream | downstream | both")] = "both",
    trades: _Trades = False,
    as_of: _AsOf = None,
    format: _Format = "table",
) -> None:
    """The enterprise's suppliers and theirs (upstream), its buyers and theirs (downstream), up to N hops."""
    from warehouse import graph

    if direction not in ("upstream", "downstream", "both"):
        raise click.UsageError("--direction must be upstream, downstream or both")
    con = _connect()
    kw = {"hops": hops, "relations": _relations(trades), "as_of": _day(as_of)}
    if direction == "both":
        df = _run(lambda: graph.neighbors(con, enterprise, **kw))
    else:
        df = _run(lambda: graph.chain(con, enterprise, direction=direction, **kw))
    _print(df.drop("node_id"), f"{direction} of {enterprise} within {hops} hops: {df.height}", format)


@graph_app.command("path")
def path(
    source: Annotated[str, typer.Argument(help="Upstream enterprise (USCC or handle)")],
    target: Annotated[str, typer.Argument(help="Downstream enterprise")],
    trades: _Trades = False,
    as_of: _AsOf = None,
    format: _Format = "table",
) -> None:
    """A shortest supply path from SOURCE down to TARGET (exit 1 when goods from SOURCE never reach it)."""
    from warehouse import graph

    con = _connect()
    df = _run(
        lambda: graph.shortest_path(con, source, target, relations=_relations(trades), as_of=_day(as_of))
    )
    if df is None:
        typer.echo(f"no supply path from {source} to {target}", err=True)
        raise typer.Exit(1)
    _print(df.drop("node_id"), f"{df.height - 1} hop(s) from {source} to {target}", format)


@graph_app.command("exposure")
def exposure(
    supplier: Annotated[str | None, typer.Option(help="The supplier that stops (USCC or handle)")] = None,
    city: Annotated[
        str | None, typer.Option(help="The city whose enterprises stop (GB/T 2260, e.g. 3703)")
    ] = None,
    trades: _Trades = False,
    as_of: _AsOf = None,
    format: _Format = "table",
) -> None:
    """Supply-chain risk: the enterprises and industries downstream of a supplier or a city that stops."""
    from warehouse import graph

    con = _connect()
    ex = _run(
        lambda: graph.exposure(
            con, supplier=supplier, city=city, relations=_relations(trades), as_of=_day(as_of)
        )
    )
    what = f"supplier {supplier}" if supplier else f"city {city} ({len(ex.stopped)} enterprises)"
    if format != "table":
        _print(ex.enterprises.drop("node_id"), "", format)
        return
    _print(ex.industries, f"industries exposed when {what} stops", format)
    _print(ex.enterprises.drop("node_id"), f"{ex.enterprises.height} enterprises exposed", format)


@graph_app.command("export")
def export(
    graphml: Annotated[Path, typer.Option("--graphml", help="Write the whole graph as GraphML")],
) -> None:
    """Write graph.node and graph.edge as GraphML (yEd, Gephi, networkx, Cytoscape)."""
    from warehouse.graph import graphml as render

    con = _connect()
    nodes = con.sql("FROM graph.node ORDER BY node_id").pl()
    edges = con.sql("FROM graph.edge ORDER BY edge_type, src, dst, source_key").pl()
    graphml.parent.mkdir(parents=True, exist_ok=True)
    graphml.write_text(render(nodes, edges), encoding="utf-8")
    console.print(f"wrote {nodes.height} nodes and {edges.height} edges to {graphml}")


@resolver_app.command("serve")
def resolver_serve(
    port: Annotated[int, typer.Option(help="TCP port")] = 8740,
    host: Annotated[str, typer.Option(help="Interface; loopback unless you mean it")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(help="Processes (each holds the whole directory)")] = 1,
) -> None:
    """Run the resolver over this home's silver.identifier (peers' keys: LAKEHOUSE_RESOLVER_PEERS)."""
    from resolver.__main__ import main as resolver_main

    s = settings()
    console.print(f"identifier resolver for 88.{s.identifier_node} on http://{host}:{port} (OpenAPI: /docs)")
    code = resolver_main(
        ["serve", "--home", str(s.home), "--port", str(port), "--host", host, "--workers", str(workers)]
    )
    if code:
        raise typer.Exit(code)
