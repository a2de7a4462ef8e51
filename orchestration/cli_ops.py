"""`lakehouse feeds` (which enterprises' feeds are late or silent, catalog.feed_status computed now) and
`lakehouse housekeep` (a housekeeping_job run of the code location).

Registered in the main CLI with `app.command("feeds")(feeds)` and `app.command("housekeep")(housekeep)`.
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


def housekeep() -> None:
    """Compact, VACUUM and checkpoint every table, prune old runs and GX results: a housekeeping_job run."""
    import polars as pl

    from orchestration.runs import RunDriver
    from warehouse.registry import HOUSEKEEPING

    s = settings()
    s.prepare()
    outcome = RunDriver().run("housekeeping_job")
    rows = s.open_lake().read(HOUSEKEEPING, where=pl.col("run_id") == outcome.run_id)
    if not outcome.success or rows.is_empty():
        console.print(f"housekeeping_job run {outcome.run_id} failed (see the Dagster UI)")
        raise typer.Exit(1)
    tables = rows.filter(~pl.col("table_name").str.starts_with("("))
    mib = 1 << 20
    console.print(
        f"housekeeping run {outcome.run_id}: {tables.height} tables, live files "
        f"{tables['live_files_before'].sum():,} -> {tables['live_files_after'].sum():,}, on disk "
        f"{tables['disk_files_before'].sum():,} files / {tables['disk_bytes_before'].sum() / mib:.1f} MiB -> "
        f"{tables['disk_files_after'].sum():,} / {tables['disk_bytes_after'].sum() / mib:.1f} MiB "
        f"(retention {s.vacuum_retention_hours:g} h)"
    )
    for r in rows.filter(pl.col("error").is_not_null()).iter_rows(named=True):
        console.print(f"  {r['table_name']}: left as it was: {r['error']}")
    for r in rows.filter(pl.col("table_name").str.starts_with("(")).iter_rows(named=True):
        console.print(
            f"  {r['table_name']}: {r['files_vacuumed']} removed, {r['disk_bytes_before'] / mib:.1f} -> "
            f"{r['disk_bytes_after'] / mib:.1f} MiB"
        )
