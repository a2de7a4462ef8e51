"""`lakehouse sync` and `lakehouse national-node serve`: release days to the national center, run its node.

Wired into the main CLI as `app.command("sync")(sync)` and `app.add_typer(national_node_app, ...)`;
`python -m orchestration.cli_sync ...` runs the same commands on their own.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from warehouse.settings import settings

console = Console(width=None if sys.stdout.isatty() else 140)

NODE_HOME_DIR = "national_node"  # the demo node's home inside LAKEHOUSE_HOME
# --role of a node and --channel of a sync: one of warehouse.registry.SYNC_CHANNELS (checked when used)
Channel = Annotated[str, typer.Option(help="national, or an industry node: energy, machinery, chemicals")]

national_node_app = typer.Typer(
    help="The reference national center node (a separate program).", no_args_is_help=True
)


@national_node_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="TCP port on the host")] = 8737,
    host: Annotated[str, typer.Option(help="Interface; loopback unless you mean it")] = "127.0.0.1",
    home: Annotated[
        Path | None,
        typer.Option(help="Node storage (default LAKEHOUSE_HOME/national_node, or .../<role>_node)"),
    ] = None,
    role: Channel = "national",
) -> None:
    """Run the node. Without NATIONAL_NODE_KEYS it accepts this home's sync key for its role's channel
    (the demo key of that channel if none is set)."""
    from warehouse.registry import SYNC_CHANNELS

    if role not in SYNC_CHANNELS:
        raise typer.BadParameter(f"{role!r} is not one of {', '.join(SYNC_CHANNELS)}", param_hint="--role")
    s = settings()
    env = dict(os.environ)
    if not env.get("NATIONAL_NODE_KEYS"):
        key = s.sync_key(role)
        env["NATIONAL_NODE_KEYS"] = key.node_keys()  # through the environment: never argv, never printed
        console.print(f"node accepts province key id {key.key_id!r} ({key.source})")
    default_home = s.home / (NODE_HOME_DIR if role == "national" else f"{role}_node")
    node_home = (home or default_home).resolve()
    console.print(f"{role} node on http://{host}:{port} (OpenAPI: /docs), home {node_home}")
    args = [
        sys.executable,
        "-m",
        "national_node",
        "serve",
        "--port",
        str(port),
        "--host",
        host,
        "--home",
        str(node_home),
        "--role",
        role,
    ]
    sys.stdout.flush()
    os.execve(sys.executable, args, env)


def _parse_day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a local day YYYY-MM-DD", param_hint=option) from exc


def sync(
    until: Annotated[str, typer.Option(help="Last local day to release, YYYY-MM-DD")],
    node: Annotated[
        str | None,
        typer.Option(help="Node URL (default LAKEHOUSE_SYNC_NODE_URL, LAKEHOUSE_SYNC_<CHANNEL>_NODE_URL)"),
    ] = None,
    channel: Channel = "national",
    since: Annotated[str | None, typer.Option(help="First day (default: the first day built)")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds per HTTP attempt")] = 10.0,
    attempts: Annotated[int, typer.Option(help="HTTP attempts per batch (backoff with jitter between)")] = 6,
) -> None:
    """Release every local day up to --until to a channel's node: new days, restated days, unfinished sends.
    A restated day also goes to every other channel's node that received it."""
    import httpx

    from assets.sync import ledger
    from assets.sync.channels import UnknownChannel, node_config, targets
    from assets.sync.sync import SyncOutcome, days_between, refresh_after_sync, sync_day_to
    from warehouse.serving.refresh import refresh_role_views
    from warehouse.serving.session import open_role

    s = settings()
    lake = s.open_lake()
    if not s.warehouse_db.exists():
        console.print(f"[red]no warehouse at {s.warehouse_db}: run `lakehouse materialize` first[/red]")
        raise typer.Exit(2)
    try:
        config = node_config(s, channel, node, timeout_s=timeout, max_attempts=attempts)
    except UnknownChannel as exc:
        raise typer.BadParameter(str(exc), param_hint="--channel") from None
    days = days_between(lake, _parse_day(until, "--until"), _parse_day(since, "--since") if since else None)
    run_id = f"cli-sync-{uuid.uuid4().hex[:12]}"
    outcomes: list[SyncOutcome] = []
    t0 = time.perf_counter()
    _announce(ledger.preview(lake, days, config.url, config.channel), config.url, config.channel, len(days))
    con = open_role(s.warehouse_db, lake=lake)  # refreshed from this home's lake before it is read
    try:
        with (
            httpx.Client() as client,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress,
        ):
            task = progress.add_task(f"sync to {config.url}", total=len(days))
            for day in days:
                progress.update(task, description=f"sync {day}")
                outcomes += sync_day_to(
                    day,
                    targets(lake, day.isoformat(), [config], s),
                    lake=lake,
                    con=con,
                    client=client,
                    run_id=run_id,
                    privacy=s.sync_privacy,
                )
                progress.advance(task)
    finally:
        con.close()
    refresh_after_sync(lake, run_id)
    refresh_role_views(s.warehouse_db, lake)
    title = f"{channel} sync ({config.key_id} key, {time.perf_counter() - t0:.1f}s)"
    table = Table(title=title)
    others = any(o.channel != channel for o in outcomes)  # restatements that went to other channels too
    for col in (
        "day",
        *(("channel",) if others else ()),
        "status",
        "version",
        "rows",
        "suppressed",
        "attempts",
        "ms",
        "receipt / reason",
    ):
        table.add_column(col)
    colors = {
        "acknowledged": "green",
        "unchanged": "dim",
        "skipped": "yellow",
        "held": "yellow",
        "failed": "red",
    }
    for o in outcomes:
        table.add_row(
            o.period,
            *((o.channel,) if others else ()),
            f"[{colors[o.status]}]{o.status}[/]",
            str(o.version or ""),
            str(o.rows),
            f"{o.cells_suppressed}"
            + (f" ({o.cells_restated} restatement)" if o.cells_restated else "")
            + (f" ({o.cells_noisy} noisy)" if o.cells_noisy else "")
            + (f" ({o.cells_budget_refused} over DP budget)" if o.cells_budget_refused else ""),
            str(o.attempts),
            f"{o.latency_ms:.0f}" if o.sent else "",
            o.receipt_id if o.sent else (o.message or ""),
        )
    console.print(table)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(1)


def _span(days: list[dt.date]) -> str:
    if not days:
        return "0"
    return f"{len(days)} ({days[0]}" + (f" .. {days[-1]})" if len(days) > 1 else ")")


def _announce(plan: dict, url: str, channel: str, total: int) -> None:
    """Say what is about to be sent, before anything is: to which node, and which days are new there."""
    known = ", ".join(plan["node_ids"]) or "none yet: nothing of this home's is held there"
    console.print(f"sync {total} day(s) to {url} (channel {channel}; node id: {known})")
    console.print(
        f"  new at this node: {_span(plan['new'])}; unfinished sends to resume: {_span(plan['resume'])}; "
        f"held there, sent again only if restated: {_span(plan['check'])}"
    )


app = typer.Typer(help="National sync commands (also wired into `lakehouse`).", no_args_is_help=True)


@app.callback()
def _prepare() -> None:
    settings().prepare()


app.command("sync")(sync)
app.add_typer(national_node_app, name="national-node")


if __name__ == "__main__":
    app()
