"""`lakehouse`: generate a simulated province, materialize what is pending, query, open the UI."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text
from typer._click import exceptions as click  # typer 0.29 bundles click: the errors it raises

from orchestration.cli_catalog import catalog_app, quarantine_app
from orchestration.cli_collect import collect_app, simulate_app
from orchestration.cli_demo import register as register_demo
from orchestration.cli_graph import graph_app, resolver_app
from orchestration.cli_objectstore import objectstore_app
from orchestration.cli_ops import feeds, housekeep
from orchestration.cli_output import FORMATS, console, print_day, print_frame
from orchestration.cli_server import server_app
from orchestration.cli_sql import register as register_sql
from orchestration.cli_sync import national_node_app
from orchestration.cli_sync import sync as sync_cmd
from warehouse.settings import ServiceUnavailable, SettingsError, settings

app = typer.Typer(
    help="Shandong industrial lakehouse: Delta tables, Dagster runs, DuckDB serving.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
register_sql(app)  # serve-sql, users
register_demo(app)  # generate, demo


@app.callback()
def _prepare() -> None:
    """Every command works on LAKEHOUSE_HOME (created on first use)."""
    try:
        settings().prepare()
    except SettingsError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    except ServiceUnavailable as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None


@app.command()
def materialize() -> None:
    """Run everything pending (new landing files, dirty days) through the Dagster Definitions."""
    from orchestration.runs import run_pending  # Dagster on demand: `collect`/`simulate` start without it

    summary = run_pending(on_day=print_day)
    console.print(
        f"ingest {summary['ingest_seconds']:.1f}s; built {len(summary['days'])} day(s) in "
        f"{summary['daily_seconds']:.1f}s; catalog {summary['catalog_seconds']:.1f}s"
    )
    if summary["failed"]:
        console.print(f"[red]failed runs: {summary['failed']}[/red]")
        raise typer.Exit(1)


@app.command()
def sql(
    query: Annotated[
        str,
        typer.Argument(
            help="SQL over the warehouse (schemas bronze, silver, theme, quarantine, catalog, mart)"
        ),
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="table | csv | json")] = "table",
    role: Annotated[
        str,
        typer.Option(help="analyst (grades 1-2) | steward (all grades); personal data is masked for both"),
    ] = "analyst",
) -> None:
    """Query the role's DuckDB file in a sealed, read-only session (see warehouse/serving/session.py `connect`)."""
    import duckdb

    from warehouse.access import ROLES, role_database
    from warehouse.serving.session import WarehouseMissing, connect

    def fail(message: str, code: int) -> typer.Exit:
        line = message.strip().splitlines()[0] if message.strip() else "error"
        console.print(Text(line, style="red"), soft_wrap=True)
        return typer.Exit(code)

    if format not in FORMATS:
        raise fail(f"unknown format {format!r}; formats: {', '.join(FORMATS)}", 2)
    if role not in ROLES:
        raise fail(f"unknown role {role!r}; roles: {', '.join(ROLES)}", 2)
    try:
        con = connect(role_database(settings().warehouse_db, ROLES[role]))
    except WarehouseMissing as exc:
        raise fail(str(exc), 2) from None
    except duckdb.Error as exc:
        raise fail(f"cannot open the warehouse: {exc}", 1) from None
    try:
        df = con.sql(query).pl()
    except Exception as exc:  # duckdb raises many error classes; one line, not a trace
        raise fail(f"{type(exc).__name__}: {exc}", 1) from None
    finally:
        con.close()
    print_frame(df, fmt=format)


app.add_typer(catalog_app, name="catalog")
app.add_typer(quarantine_app, name="quarantine")
app.command("sync")(sync_cmd)
app.add_typer(national_node_app, name="national-node")
app.add_typer(collect_app, name="collect")
app.add_typer(simulate_app, name="simulate")
app.command("feeds")(feeds)
app.command("housekeep")(housekeep)
app.add_typer(objectstore_app, name="objectstore")
app.add_typer(server_app, name="server")
app.add_typer(graph_app, name="graph")
app.add_typer(resolver_app, name="resolver")


@app.command()
def bench(
    rows: Annotated[
        list[int] | None, typer.Option("--rows", help="Sizes in readings (repeatable); default 1M and 10M")
    ] = None,
    runs: Annotated[int, typer.Option(help="Runs per engine and size (median reported)")] = 3,
    large: Annotated[bool, typer.Option("--large", help="Add the 50M-reading size")] = False,
    collector_minutes: Annotated[
        float,
        typer.Option(
            help="Then the collector benchmark with a soak of this many minutes (the issue's is 10; 0 skips it)"
        ),
    ] = 2,
) -> None:
    """Ours vs bare polars vs bare DuckDB, with peak memory; writes bench/results and BENCHMARKS.md.
    Then the MQTT collector's throughput, latency and RSS soak (bench/results/collector.*)."""
    from bench.run import DEFAULT_ROWS, LARGE_ROWS, run_bench

    sizes = list(rows or DEFAULT_ROWS) + ([LARGE_ROWS] if large else [])
    run_bench(sizes, runs=runs)
    if collector_minutes > 0:
        from bench.collector import main as collector_bench

        collector_bench(["--soak-minutes", str(collector_minutes)])


@app.command()
def ui(port: Annotated[int, typer.Option()] = 3000) -> None:
    """The Dagster UI (and daemon, for schedules and sensors) on 127.0.0.1 over LAKEHOUSE_HOME's instance.

    It loads the `lakehouse` code location from the workspace file the CLI's runs are created against, so
    runs started by `lakehouse materialize` show on the job pages and the timeline.
    """
    from orchestration.runs import workspace_file

    s = settings()
    s.prepare()
    dagster = Path(sys.executable).parent / "dagster"
    workspace = workspace_file(s.dagster_home)
    args = [str(dagster), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)]
    os.execv(str(dagster), args)


def _one_line(text: object, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _command_path(exc: click.ClickException) -> str:
    ctx = getattr(exc, "ctx", None)
    return ctx.command_path if ctx is not None else "lakehouse"


def _usage_error_of(exc: BaseException) -> str | None:
    """Errors caused by what the user typed (a name that does not exist, SQL that does not parse)."""
    import duckdb

    if isinstance(exc, duckdb.CatalogException | duckdb.ParserException | duckdb.BinderException):
        return _one_line(exc)
    return None


def _failure_of(exc: BaseException) -> str:
    import duckdb

    if isinstance(exc, duckdb.IOException) and "does not exist" in str(exc):
        return f"no warehouse at {settings().warehouse_db}: run `lakehouse materialize` first"
    return f"{type(exc).__name__}: {_one_line(exc)}"


def main(argv: list[str] | None = None) -> int:
    """The `lakehouse` entry point: every error is one line on stderr, exit 2 for usage, 1 for failure.

    Central on purpose: commands raise what they raise (click's usage errors, DuckDB's, OS errors, any
    failure), and this wrapper turns it into `lakehouse <command>: <message>`, never a traceback.
    """
    try:
        code = app(args=argv, prog_name="lakehouse", standalone_mode=False)
    except click.NoArgsIsHelpError:  # the help was printed: a command group called without a command
        return 2
    except click.UsageError as exc:
        typer.echo(f"{_command_path(exc)}: {_one_line(exc.format_message())} (see --help)", err=True)
        return 2
    except click.ClickException as exc:
        typer.echo(f"lakehouse: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code or 1
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("lakehouse: aborted", err=True)
        return 1
    except Exception as exc:
        usage = _usage_error_of(exc)
        if usage is not None:
            typer.echo(f"lakehouse: {usage}", err=True)
            return 2
        typer.echo(f"lakehouse: {_failure_of(exc)}", err=True)
        return 1
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
