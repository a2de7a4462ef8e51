"""`lakehouse`: generate a simulated province, materialize what is pending, query, open the UI."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer._click import exceptions as click  # typer 0.29 bundles click: the errors it raises

from orchestration.cli_collect import collect_app, simulate_app
from orchestration.cli_graph import graph_app, resolver_app
from orchestration.cli_objectstore import objectstore_app
from orchestration.cli_ops import feeds, housekeep
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
console = Console(width=None if sys.stdout.isatty() else 140)
register_sql(app)  # serve-sql, users


class UsageProblem(click.UsageError):
    """Bad input the command noticed itself (an unknown table, a bad value): exit 2 like a parse error."""


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


DEMO_ENTERPRISES, DEMO_DAYS, DEMO_START, DEMO_SEED = 60, 7, "2026-11-01", 42


@app.command()
def generate(
    enterprises: Annotated[int, typer.Option(help="Number of enterprises")] = DEMO_ENTERPRISES,
    days: Annotated[int, typer.Option(help="Number of local days of telemetry")] = DEMO_DAYS,
    start: Annotated[str, typer.Option(help="First local day, YYYY-MM-DD")] = DEMO_START,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files")] = DEMO_SEED,
    defect_rate: Annotated[float, typer.Option(help="Per-record defect probability")] = 0.01,
) -> None:
    """Write a simulated province into LAKEHOUSE_HOME/landing, with a ground-truth manifest."""
    from simulator import generate as simulate

    s = settings()
    s.prepare()
    t0 = time.perf_counter()
    manifest = simulate(
        s.landing,
        s.manifest,
        enterprises=enterprises,
        days=days,
        start=dt.date.fromisoformat(start),
        seed=seed,
        defect_rate=defect_rate,
    )
    exp = manifest["expected"]
    console.print(
        f"generated {manifest['files']['written']:,} files, {exp['landed']:,} records "
        f"({manifest['master']['enterprises']} enterprises, {manifest['master']['equipment']} equipment) "
        f"in {time.perf_counter() - t0:.1f}s -> {s.landing}"
    )


def _record(summary: dict, outcome) -> None:
    summary["runs"].append((outcome.job, outcome.partition, outcome.run_id, outcome.success))
    if not outcome.success:
        summary["failed"].append((outcome.job, outcome.partition, outcome.run_id))


def build_days(days: list[dt.date], summary: dict, progress: bool = True, driver=None) -> None:
    """One daily_job run per local day, then catalog_job if its inputs moved on: runs of the code location."""
    from orchestration.jobs import catalog_pending
    from orchestration.runs import RunDriver

    driver = driver or RunDriver()
    for i, day in enumerate(days, start=1):
        outcome = driver.run("daily_job", partition=day.isoformat())
        _record(summary, outcome)
        if progress:
            state = "ok" if outcome.success else "[red]FAILED[/red]"
            console.print(f"  [{i}/{len(days)}] day {day.isoformat()}: {state}")
    if catalog_pending():
        _record(summary, driver.run("catalog_job"))


def last_partition_day() -> dt.date:
    from orchestration.jobs import last_day

    return last_day()


def run_pending(progress: bool = True) -> dict:
    """Ingest new landing files, build every day not completely built, refresh a stale catalog.

    Every run is a run of the `lakehouse` code location in the home's instance (orchestration/runs.py);
    afterwards the landing sensor's cursor is set, so the daemon does not redo the ingest.
    """
    from orchestration.jobs import dirty_days, landing_fingerprint, landing_sensor
    from orchestration.runs import RunDriver, set_sensor_cursor

    s = settings()
    s.prepare()
    driver = RunDriver()
    summary: dict = {"runs": [], "failed": []}
    t0 = time.perf_counter()
    ingest = driver.run("ingest_job")
    _record(summary, ingest)
    fingerprint = landing_fingerprint()
    if ingest.success and fingerprint is not None:
        set_sensor_cursor(driver.instance, landing_sensor.name, fingerprint)
    summary["ingest_seconds"] = time.perf_counter() - t0
    days = dirty_days()
    t1 = time.perf_counter()
    build_days(days, summary, progress, driver)
    summary["days"] = [d.isoformat() for d in days]
    summary["daily_seconds"] = time.perf_counter() - t1
    return summary


@app.command()
def materialize() -> None:
    """Run everything pending (new landing files, dirty days) through the Dagster Definitions."""
    summary = run_pending()
    console.print(
        f"ingest {summary['ingest_seconds']:.1f}s; built {len(summary['days'])} day(s) in {summary['daily_seconds']:.1f}s"
    )
    if summary["failed"]:
        console.print(f"[red]failed runs: {summary['failed']}[/red]")
        raise typer.Exit(1)


def _print_frame(df, title: str | None = None, fmt: str = "table") -> None:
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


FORMATS = ("table", "csv", "json")


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
    """Query the role's DuckDB file in a sealed, read-only session (see warehouse/serving.py `connect`)."""
    import duckdb

    from warehouse.access import ROLES, role_database
    from warehouse.serving import WarehouseMissing, connect

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
    _print_frame(df, fmt=format)


def demo_summary() -> tuple[bool, list[str]]:
    """Per-table counts, quarantine by reason, and the reconciliation against the simulator's truth."""
    from warehouse.registry import TABLES
    from warehouse.serving import connect

    s = settings()
    con = connect(s.warehouse_db, read_only=True)
    problems: list[str] = []
    try:
        counts = []
        for name in TABLES:
            try:
                counts.append((name, con.sql(f"SELECT count(*) FROM {name}").fetchone()[0]))
            except Exception:
                counts.append((name, None))
        import polars as pl

        _print_frame(pl.DataFrame(counts, schema=["table", "rows"], orient="row"), title="tables")
        reasons = con.sql(
            "SELECT reason, count(*) AS records FROM quarantine.telemetry GROUP BY 1 ORDER BY 1"
        ).pl()
        _print_frame(reasons, title="quarantine.telemetry by reason")
        rec = con.sql(
            "SELECT table_name, count(*) AS partitions, sum(landed) AS landed, sum(clean) AS clean, "
            "sum(quarantined) AS quarantined, sum(duplicates) AS duplicates, "
            "count(*) FILTER (WHERE landed <> clean + quarantined + duplicates) AS not_reconciled "
            "FROM catalog.reconciliation GROUP BY 1 ORDER BY 1"
        ).pl()
        _print_frame(rec, title="catalog.reconciliation")
        problems += [
            f"{t}: {n} partitions do not reconcile"
            for t, n in rec.select("table_name", "not_reconciled").iter_rows()
            if n
        ]
        if s.manifest.exists():
            truth = json.loads(s.manifest.read_text())["expected"]
            silver = rec.filter(pl.col("table_name") == "silver.telemetry").to_dicts()
            got = silver[0] if silver else {}
            for key in ("landed", "clean", "duplicates"):
                if got.get(key) != truth[key]:
                    problems.append(f"silver.telemetry {key}: {got.get(key)} vs ground truth {truth[key]}")
            got_reasons = dict(reasons.iter_rows())
            for reason, n in truth["quarantined"].items():
                if got_reasons.get(reason, 0) != n:
                    problems.append(f"quarantine {reason}: {got_reasons.get(reason, 0)} vs ground truth {n}")
            problems += _registry_and_trading_truth(con, json.loads(s.manifest.read_text()))
    finally:
        con.close()
    return not problems, problems


def _registry_and_trading_truth(con, manifest: dict) -> list[str]:
    """quarantine.enterprise / quarantine.trade by reason and the golden record against the simulator."""
    problems: list[str] = []
    checks = [
        ("quarantine.enterprise", manifest.get("registry", {}).get("quarantined")),
        (
            "quarantine.trade",
            {k: v for k, v in manifest.get("trading", {}).get("quarantined", {}).items() if v},
        ),
        (
            "quarantine.energy_report",
            {k: v for k, v in manifest.get("energy_reports", {}).get("quarantined", {}).items() if v},
        ),
    ]
    for table, truth in checks:
        if truth is None:
            continue
        got = con.sql(f"SELECT reason, count(*) AS records FROM {table} GROUP BY 1 ORDER BY 1").pl()
        _print_frame(got, title=f"{table} by reason")
        if dict(got.iter_rows()) != truth:
            problems.append(f"{table}: {dict(got.iter_rows())} vs ground truth {truth}")
    if "energy_reports" in manifest:
        agreement = con.sql(
            "SELECT status, count(*) AS reports, max(abs(deviation)) AS max_abs_deviation "
            "FROM catalog.energy_report_agreement GROUP BY 1 ORDER BY 1"
        ).pl()
        _print_frame(agreement, title="catalog.energy_report_agreement (daily sums vs reports, ±5%)")
        got = sorted(
            f"{u} {m}"
            for u, m in con.sql(
                "SELECT uscc, month FROM catalog.energy_report_agreement WHERE status = 'disagrees'"
            ).fetchall()
        )
        if got != manifest["energy_reports"]["disagreeing"]:
            problems.append(
                f"energy reports disagreeing {got} vs ground truth {manifest['energy_reports']['disagreeing']}"
            )
    golden = manifest.get("registry", {}).get("golden")
    if golden:
        cur, rows = con.sql(
            "SELECT count(*) FILTER (WHERE valid_to IS NULL), count(*) FROM silver.enterprise"
        ).fetchone()
        if (cur, rows) != (golden["current"], golden["history_rows"]):
            problems.append(
                f"silver.enterprise current/history {cur}/{rows} vs ground truth "
                f"{golden['current']}/{golden['history_rows']}"
            )
    return problems


def demo_sync(until: dt.date) -> None:
    """Start a reference national node on loopback, sync the demo period to it, print what it holds."""
    import httpx

    from assets.sync.keys import sync_key
    from assets.sync.signing import sign_request
    from national_node.loopback import running_node
    from warehouse.domain import PROVINCE_CODE

    s = settings()
    key = sync_key(s.home)
    with running_node(s.home / "national_node", key.node_keys()) as url:
        sync_cmd(until=until.isoformat(), node=url, since=DEMO_START, timeout=10.0, attempts=6)
        headers = sign_request(  # reads need a key too: the province reads what it sent
            method="GET",
            path="/v1/status",
            body=b"",
            node=PROVINCE_CODE,
            key_id=key.key_id,
            secret=key.secret,
            idempotency_key="",
        )
        held = httpx.get(
            f"{url}/v1/status", headers={k: v for k, v in headers.items() if v}, timeout=5
        ).json()
        console.print(
            f"national node {url} holds: {json.dumps({k: v for k, v in held.items() if k != 'node_id'})}"
        )


@app.command()
def demo(
    enterprises: Annotated[int, typer.Option()] = DEMO_ENTERPRISES,
    days: Annotated[int, typer.Option()] = DEMO_DAYS,
) -> None:
    """Generate the demo province (if not there), materialize everything, print a summary."""
    s = settings()
    t0 = time.perf_counter()
    if not s.manifest.exists():
        generate(enterprises=enterprises, days=days, start=DEMO_START, seed=DEMO_SEED, defect_rate=0.01)
    summary = run_pending()
    ok, problems = demo_summary()
    console.print(
        f"demo: {len(summary['runs'])} Dagster runs ({len(summary['failed'])} failed), "
        f"{time.perf_counter() - t0:.1f}s wall (ingest {summary['ingest_seconds']:.1f}s, "
        f"{len(summary['days'])} day(s) built in {summary['daily_seconds']:.1f}s); home {s.home}"
    )
    for p in problems:
        console.print(f"[red]{p}[/red]")
    if summary["failed"] or not ok:
        raise typer.Exit(1)
    demo_sync(dt.date.fromisoformat(DEMO_START) + dt.timedelta(days=days - 1))
    console.print("[green]all partitions reconcile with the simulator's ground truth[/green]")
    console.print(
        'next: `make ui` (http://127.0.0.1:3000) or `lakehouse sql "select * from theme.energy_daily limit 5"`'
    )


quarantine_app = typer.Typer(help="Browse and replay quarantined records.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")


DAY = typer.Option(formats=["%Y-%m-%d"], help="Only this local day, YYYY-MM-DD")


def _day(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


def _quarantine_where(table: str, reason: str | None, day: dt.date | None) -> str:
    from warehouse.registry import TABLES

    quarantines = sorted(n for n, t in TABLES.items() if t.layer == "quarantine")
    if table not in quarantines:
        raise UsageProblem(f"unknown quarantine table {table!r}; one of {', '.join(quarantines)}")
    conds = ["true"]
    if reason:
        conds.append(f"reason = '{reason.replace(chr(39), '')}'")
    if day:
        conds.append(f"day = DATE '{day.isoformat()}'")
    return f"FROM {table} WHERE " + " AND ".join(conds)


@quarantine_app.command("list")
def quarantine_list(
    table: Annotated[str, typer.Option(help="Quarantine table")] = "quarantine.telemetry",
    reason: Annotated[str | None, typer.Option(help="Only this reason")] = None,
    day: Annotated[dt.datetime | None, DAY] = None,
    limit: Annotated[int, typer.Option(help="Sample rows to show")] = 20,
    format: Annotated[str, typer.Option("--format", "-f")] = "table",
) -> None:
    """Counts by day and reason, and a sample of the quarantined records with their payload."""
    from warehouse.serving import connect

    where = _quarantine_where(table, reason, _day(day))
    con = connect(settings().warehouse_db, read_only=True)
    _print_frame(
        con.sql(f"SELECT day, reason, count(*) AS records {where} GROUP BY ALL ORDER BY ALL").pl(),
        title=f"{table} by day and reason",
        fmt=format,
    )
    if format == "table":
        _print_frame(
            con.sql(
                f"SELECT day, reason, source_file, line_no, payload {where} ORDER BY ALL LIMIT {int(limit)}"
            ).pl(),
            title="sample",
        )
    con.close()


@quarantine_app.command("replay")
def quarantine_replay(
    reason: Annotated[str | None, typer.Option(help="Only days holding this reason")] = None,
    day: Annotated[dt.datetime | None, DAY] = None,
) -> None:
    """Rebuild the days holding matching quarantined records after a rule or mapping was fixed.

    Silver is rebuilt from bronze, so records that now pass leave the quarantine and the partition
    still reconciles (landed = clean + quarantined + duplicates).
    """
    from warehouse.serving import connect

    where = _quarantine_where("quarantine.telemetry", reason, _day(day))
    con = connect(settings().warehouse_db, read_only=True)
    before = con.sql(f"SELECT count(*) {where}").fetchone()[0]
    days = [r[0] for r in con.sql(f"SELECT DISTINCT day {where} ORDER BY 1").fetchall()]
    con.close()
    summary: dict = {"runs": [], "failed": []}
    build_days(days, summary)
    con = connect(settings().warehouse_db, read_only=True)
    after = con.sql(f"SELECT count(*) {where}").fetchone()[0]
    con.close()
    console.print(f"replayed {len(days)} day(s): {before} matching records quarantined before, {after} after")
    if summary["failed"]:
        raise typer.Exit(1)


catalog_app = typer.Typer(
    help="The resource directory (资源目录): every dataset, derived.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")
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


def _directory():
    import datetime as dt

    import polars as pl

    from warehouse.catalog import with_access_counts
    from warehouse.registry import CATALOG_COLUMN, CATALOG_DATASET

    lake = settings().open_lake()
    if not lake.exists(CATALOG_DATASET):
        console.print("[red]no resource directory yet: run `lakehouse materialize`[/red]")
        raise typer.Exit(2)
    return (
        with_access_counts(lake.read(CATALOG_DATASET), lake, dt.datetime.now(dt.UTC)).sort("table_name"),
        lake.read(CATALOG_COLUMN).sort("table_name", "position"),
        pl,
    )


@catalog_app.command("list")
def catalog_list(format: Annotated[str, typer.Option("--format", "-f")] = "table") -> None:
    """Every dataset: layer, domain, grade, rows, freshness, pass rate."""
    datasets, _, _ = _directory()
    _print_frame(
        datasets.select(
            "table_name",
            "layer",
            "data_domain",
            "grade",
            "row_count",
            "size_bytes",
            "freshness_hours",
            "pass_rate",
            "queries_30d",
        ),
        title="resource directory",
        fmt=format,
    )


@catalog_app.command("show")
def catalog_show(table: Annotated[str, typer.Argument(help="e.g. theme.energy_daily")]) -> None:
    """One dataset: description, grade, lineage, freshness, quality and its columns."""
    datasets, columns, pl = _directory()
    row = datasets.filter(pl.col("table_name") == table)
    if row.is_empty():
        console.print(f"[red]unknown dataset {table}; see `lakehouse catalog list`[/red]")
        raise typer.Exit(2)
    d = row.row(0, named=True)
    from warehouse.domain import GRADES

    facts = Table(title=table, show_header=False)
    facts.add_column("field")
    facts.add_column("value")
    for k, v in d.items():
        if k == "grade":
            v = f"{v} ({GRADES[v]}, {d['grade_tier']})"
        facts.add_row(k, ", ".join(v) if isinstance(v, list) else "" if v is None else str(v))
    console.print(facts)
    _print_frame(columns.filter(pl.col("table_name") == table).drop("table_name"), title="columns")


@catalog_app.command("export")
def catalog_export(
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a static site (one page per dataset)")
    ] = None,
    dcat: Annotated[Path | None, typer.Option("--dcat", help="Write DCAT-style JSON")] = None,
) -> None:
    """Export the directory as an offline HTML site and/or DCAT-style JSON for the national directory."""
    from warehouse.catalog import export_dcat, export_html, registered_products
    from warehouse.domain import PROVINCE_CODE
    from warehouse.registry import DATA_PRODUCT, IDENTIFIER, PLAN_PROGRESS

    datasets, columns, _ = _directory()
    lake = settings().open_lake()
    products = (
        registered_products(lake.read(DATA_PRODUCT), lake.read(IDENTIFIER))
        if lake.exists(DATA_PRODUCT) and lake.exists(IDENTIFIER)
        else None
    )
    if html:
        pages = export_html(datasets, columns, html, plan=lake.read(PLAN_PROGRESS), products=products)
        console.print(f"wrote {len(pages)} pages to {html}/index.html")
    if dcat:
        export_dcat(
            datasets,
            columns,
            dcat,
            publisher=f"Provincial industrial big-data center ({PROVINCE_CODE})",
            products=products,
        )
        console.print(f"wrote {dcat}")


@app.command()
def bench(
    rows: Annotated[
        list[int] | None, typer.Option("--rows", help="Sizes in readings (repeatable); default 1M and 10M")
    ] = None,
    runs: Annotated[int, typer.Option(help="Runs per engine and size (median reported)")] = 3,
    large: Annotated[bool, typer.Option("--large", help="Add the 50M-reading size")] = False,
) -> None:
    """Ours vs bare polars vs bare DuckDB, with peak memory; writes bench/results and BENCHMARKS.md."""
    from bench.run import DEFAULT_ROWS, LARGE_ROWS, run_bench

    sizes = list(rows or DEFAULT_ROWS) + ([LARGE_ROWS] if large else [])
    run_bench(sizes, runs=runs)


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
