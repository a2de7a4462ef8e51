"""What every `lakehouse` command prints with: one console, frames as a table, CSV or JSON."""

from __future__ import annotations

import datetime as dt
import json
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer._click import exceptions as click  # typer 0.29 bundles click: the errors it raises

console = Console(width=None if sys.stdout.isatty() else 140)
FORMATS = ("table", "csv", "json")


class UsageProblem(click.UsageError):
    """Bad input the command noticed itself (an unknown table, a bad value): exit 2 like a parse error."""


def print_frame(df, title: str | None = None, fmt: str = "table") -> None:
    """A frame as a table, CSV or JSON; values are printed as they are (never read as rich markup)."""
    if fmt == "csv":
        sys.stdout.write(df.write_csv())
        return
    if fmt == "json":
        sys.stdout.write(json.dumps(df.to_dicts(), default=str, ensure_ascii=False, indent=1) + "\n")
        return
    table = Table(title=Text(title) if title else None, show_lines=False)
    for c in df.columns:
        table.add_column(Text(c))
    for row in df.iter_rows():
        table.add_row(
            *(Text("" if v is None else f"{v:,.3f}" if isinstance(v, float) else str(v)) for v in row)
        )
    console.print(table)


def print_day(i: int, n: int, day: dt.date, success: bool) -> None:
    """Progress of a day build (runs.OnDay)."""
    console.print(f"  [{i}/{n}] day {day.isoformat()}: {'ok' if success else '[red]FAILED[/red]'}")
