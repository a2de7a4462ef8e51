"""`lakehouse quarantine` and `lakehouse catalog`: browse and replay quarantined records; the resource directory."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from orchestration.cli_output import UsageProblem, console, print_day, print_frame
from warehouse.settings import settings

quarantine_app = typer.Typer(help="Browse and replay quarantined records.", no_args_is_help=True)


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
    from warehouse.serving.session import connect

    where = _quarantine_where(table, reason, _day(day))
    con = connect(settings().warehouse_db, read_only=True)
    print_frame(
        con.sql(f"SELECT day, reason, count(*) AS records {where} GROUP BY ALL ORDER BY ALL").pl(),
        title=f"{table} by day and reason",
        fmt=format,
    )
    if format == "table":
        print_frame(
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
    from warehouse.serving.session import connect

    where = _quarantine_where("quarantine.telemetry", reason, _day(day))
    con = connect(settings().warehouse_db, read_only=True)
    before = con.sql(f"SELECT count(*) {where}").fetchone()[0]
    days = [r[0] for r in con.sql(f"SELECT DISTINCT day {where} ORDER BY 1").fetchall()]
    con.close()
    summary: dict = {"runs": [], "failed": []}
    from orchestration.runs import build_days  # Dagster on demand (see cli.py: materialize)

    build_days(days, summary, on_day=print_day)
    con = connect(settings().warehouse_db, read_only=True)
    after = con.sql(f"SELECT count(*) {where}").fetchone()[0]
    con.close()
    console.print(f"replayed {len(days)} day(s): {before} matching records quarantined before, {after} after")
    if summary["failed"]:
        raise typer.Exit(1)


catalog_app = typer.Typer(
    help="The resource directory (资源目录): every dataset, derived.", no_args_is_help=True
)


def _directory():
    import polars as pl

    from warehouse.catalog.directory import with_access_counts
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
    print_frame(
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
    print_frame(columns.filter(pl.col("table_name") == table).drop("table_name"), title="columns")


@catalog_app.command("export")
def catalog_export(
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a static site (one page per dataset)")
    ] = None,
    dcat: Annotated[Path | None, typer.Option("--dcat", help="Write DCAT-style JSON")] = None,
) -> None:
    """Export the directory as an offline HTML site and/or DCAT-style JSON for the national directory."""
    from warehouse.catalog.dcat import export_dcat
    from warehouse.catalog.directory import registered_products
    from warehouse.catalog.site import export_html
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
        from warehouse.graph_picture import directory_section

        graph = directory_section(settings().warehouse_db)
        pages = export_html(
            datasets, columns, html, plan=lake.read(PLAN_PROGRESS), products=products, graph=graph
        )
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
