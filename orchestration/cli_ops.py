"""`lakehouse feeds`: which enterprises' feeds are late or silent (catalog.feed_status, computed now).

Registered in the main CLI with `app.command("feeds")(feeds)`.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from warehouse.settings import settings

console = Console(width=None if sys.stdout.isatty() else 140)


def feeds(
    at: Annotated[
        str | None, typer.Option(help="Judge as of this ISO time (default now); naive is UTC")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="List on-time feeds too")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """List the enterprises whose telemetry feed is late (past the cadence) or silent."""
    from assets.catalog.feeds import lake_feed_status, late_feeds

    try:
        now = dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC)
    except ValueError:
        console.print(f"--at {at!r} is not an ISO date-time (e.g. 2026-11-08T10:00:00+08:00)")
        raise typer.Exit(2) from None
    now = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    s = settings()
    try:
        status = lake_feed_status(s.open_lake(), s, now=now)
    except Exception as exc:  # one line, never a traceback
        console.print(f"feeds: cannot read the lake under {s.lake}: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    shown = status if all_ else late_feeds(status)
    if as_json:
        for row in shown.iter_rows(named=True):
            print(json.dumps(row, default=str, ensure_ascii=False))
        return
    table = Table(
        title=f"{shown.height} of {status.height} feeds {'' if all_ else 'late or silent '}at {now.isoformat()}"
    )
    for col in (
        "uscc",
        "source",
        "status",
        "last_reading_at",
        "lateness_minutes",
        "completeness_pct",
        "last_file",
    ):
        table.add_column(col)
    for r in shown.iter_rows(named=True):
        table.add_row(
            r["uscc"],
            r["source"],
            r["status"],
            str(r["last_reading_at"] or "-"),
            f"{r['lateness_minutes']:.0f}" if r["lateness_minutes"] is not None else "-",
            f"{r['completeness_pct']:.1f}" if r["completeness_pct"] is not None else "-",
            r["last_file"] or "-",
        )
    console.print(table)
