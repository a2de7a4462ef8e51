"""The resource directory (资源目录), derived: registry declarations + Delta logs + lineage + quality.

Nothing here is typed by hand: a table added to the registry appears in the directory, its HTML page
and its DCAT entry on the next build.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path

import polars as pl
import pyarrow as pa

from warehouse.domain import DATA_DOMAINS, GRADE_TIERS, GRADES
from warehouse.registry import CATALOG_COLUMN, CATALOG_DATASET, QUERY_AUDIT, TABLES, TableSpec
from warehouse.serving import MARTS
from warehouse.storage import Lake


def delta_facts(lake: Lake, spec: TableSpec) -> dict:
    """Row count, size, version and last commit time from the Delta log (no data scan)."""
    if not lake.exists(spec):
        return {"row_count": None, "size_bytes": None, "latest_version": None, "updated_at": None}
    table = lake.table(spec)
    actions = pl.DataFrame(pa.table(table.get_add_actions(flatten=True)))
    last = table.history(1)[0]
    rows = actions["num_records"].sum() if "num_records" in actions.columns else None
    return {
        "row_count": int(rows) if rows is not None else None,
        "size_bytes": int(actions["size_bytes"].sum()) if actions.height else 0,
        "latest_version": table.version(),
        "updated_at": dt.datetime.fromtimestamp(last["timestamp"] / 1000, dt.UTC),
    }


def access_counts(lake: Lake, now: dt.datetime, days: int = 30) -> dict[str, int]:
    """Statements per dataset through the SQL endpoint over the last `days` (catalog.query_audit). A serving
    mart (a roll-up copy of one dataset, warehouse.serving.MARTS) counts toward its source, once a statement."""
    if not lake.exists(QUERY_AUDIT):
        return {}
    sources = {m.name: m.source.name for m in MARTS}
    since = (now - dt.timedelta(days=days)).date()
    audit = lake.read(QUERY_AUDIT, columns=["day", "tables"])
    counts = (
        audit.filter(pl.col("day") >= since)
        .with_row_index("statement")
        .select("statement", pl.col("tables").str.json_decode(pl.List(pl.String)).alias("table_name"))
        .explode("table_name")
        .drop_nulls()
        .with_columns(pl.col("table_name").replace(sources))
        .unique()
        .group_by("table_name")
        .len()
    )
    return dict(counts.iter_rows())


def with_access_counts(datasets: pl.DataFrame, lake: Lake, now: dt.datetime) -> pl.DataFrame:
    """The directory's `queries_30d` as of now.

    catalog_job builds the directory when the data moves, not when analysts query (an audit commit every
    few seconds would keep it rebuilding), so readers of the directory recount from catalog.query_audit.
    """
    counts = access_counts(lake, now)
    return datasets.with_columns(
        pl.col("table_name").replace_strict(counts, default=0, return_dtype=pl.Int64).alias("queries_30d")
    )


def build_directory(
    lake: Lake,
    lineage: dict[str, tuple[list[str], list[str]]],
    scorecard: pl.DataFrame,
    now: dt.datetime | None = None,
    tables: dict[str, TableSpec] = TABLES,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """catalog.dataset and catalog.column rows for every registry table."""
    now = now or dt.datetime.now(dt.UTC)
    rates = {}
    if scorecard.height:
        agg = scorecard.group_by("table_name").agg(
            (1.0 - pl.col("rows_failed").sum() / pl.col("rows_evaluated").sum()).alias("rate")
        )
        rates = dict(agg.iter_rows())
    access = access_counts(lake, now)
    datasets, columns = [], []
    for name, spec in tables.items():
        facts = delta_facts(lake, spec)
        up, down = lineage.get(name, ([], []))
        updated = facts["updated_at"]
        datasets.append(
            {
                "table_name": name,
                "layer": spec.layer,
                "description": spec.description,
                "owner": spec.owner,
                "data_domain": DATA_DOMAINS[spec.domain],
                "grade": spec.grade,
                "grade_tier": GRADE_TIERS[spec.grade],
                "partition_by": spec.partition_by,
                "primary_key": ", ".join(spec.key),
                "columns": len(spec.columns),
                **facts,
                "freshness_hours": (now - updated).total_seconds() / 3600 if updated else None,
                "pass_rate": rates.get(name),
                "queries_30d": access.get(name, 0),
                "upstream": sorted(up),
                "downstream": sorted(down),
            }
        )
        for i, c in enumerate(spec.columns, start=1):
            columns.append(
                {
                    "table_name": name,
                    "position": i,
                    "column_name": c.name,
                    "data_type": str(c.dtype),
                    "description": c.description,
                    "grade": c.grade,
                    "is_partition": c.name == spec.partition_by,
                    "is_key": c.name in spec.key,
                }
            )
    return (
        pl.DataFrame(datasets, schema=CATALOG_DATASET.schema),
        pl.DataFrame(columns, schema=CATALOG_COLUMN.schema),
    )


def refresh_datasets(lake: Lake, specs: list[TableSpec], now: dt.datetime | None = None) -> int:
    """Bring the Delta facts (rows, bytes, version, last commit, freshness) of a few datasets up to date in
    catalog.dataset, without a full rebuild: what a writer outside the catalog job calls after writing.
    Returns the rows refreshed (0 before the directory was first built)."""
    if not lake.exists(CATALOG_DATASET):
        return 0
    now = now or dt.datetime.now(dt.UTC)
    current = lake.read(CATALOG_DATASET).filter(pl.col("table_name").is_in([s.name for s in specs]))
    if current.is_empty():
        return 0
    facts = []
    for spec in specs:
        f = delta_facts(lake, spec)
        updated = f["updated_at"]
        facts.append(
            {"table_name": spec.name, **f}
            | {"freshness_hours": (now - updated).total_seconds() / 3600 if updated else None}
        )
    fresh = pl.DataFrame(
        facts, schema={c: CATALOG_DATASET.schema[c] for c in facts[0]}
    )  # same columns for every spec
    rows = current.drop([c for c in fresh.columns if c != "table_name"]).join(fresh, on="table_name")
    lake.upsert(CATALOG_DATASET, rows.select(CATALOG_DATASET.schema.keys()), run_id="directory-refresh")
    return rows.height


def registered_products(products: pl.DataFrame, identifiers: pl.DataFrame) -> pl.DataFrame:
    """Registered data products with their identifier handle and their provider's (the directory lists them)."""
    handle = identifiers.filter(pl.col("object_type").is_in(["data_product", "enterprise"])).select(
        "object_type", "object_key", "handle", "status"
    )
    return (
        products.filter(pl.col("registration_no").is_not_null())
        .join(
            handle.filter(pl.col("object_type") == "data_product").select(
                pl.col("object_key").alias("product_id"), "handle", "status"
            ),
            on="product_id",
            how="left",
        )
        .join(
            handle.filter(pl.col("object_type") == "enterprise").select(
                pl.col("object_key").alias("provider_uscc"), pl.col("handle").alias("provider_handle")
            ),
            on="provider_uscc",
            how="left",
        )
        .select("product_id", "title", "handle", "status", "provider_handle", "registration_no", "grade")
        .sort("product_id")
    )


def dcat(
    datasets: pl.DataFrame, columns: pl.DataFrame, publisher: str, products: pl.DataFrame | None = None
) -> dict:
    """A DCAT-style JSON catalog the national directory could ingest (one dcat:Dataset per table, and one
    per registered data product, identified by its handle, when `products` (registered_products) is given)."""
    items = []
    for d in datasets.iter_rows(named=True):
        cols = columns.filter(pl.col("table_name") == d["table_name"])
        items.append(
            {
                "@type": "dcat:Dataset",
                "dct:identifier": d["table_name"],
                "dct:title": d["table_name"],
                "dct:description": d["description"],
                "dct:publisher": publisher,
                "dcat:contactPoint": d["owner"],
                "dcat:theme": d["data_domain"],
                "dcat:keyword": [d["layer"], d["data_domain"], f"grade-{d['grade']}"],
                "dct:accessRights": f"grade {d['grade']} ({GRADES[d['grade']]}; {d['grade_tier']})",
                "dct:modified": d["updated_at"].isoformat() if d["updated_at"] else None,
                "dcat:temporalResolution": "P1D" if d["partition_by"] in ("day", "landing_date") else None,
                "dct:extent": {"rows": d["row_count"], "bytes": d["size_bytes"]},
                "prov:wasDerivedFrom": d["upstream"],
                "dqv:hasQualityMeasurement": {
                    "dqv:value": d["pass_rate"],
                    "dqv:isMeasurementOf": "pass_rate",
                },
                "dcat:distribution": [
                    {
                        "@type": "dcat:Distribution",
                        "dcat:accessService": "DuckDB view",
                        "dct:format": "Delta Lake",
                        "dct:identifier": d["table_name"],
                    }
                ],
                "csvw:tableSchema": {
                    "columns": [
                        {
                            "name": c["column_name"],
                            "datatype": c["data_type"],
                            "dct:description": c["description"],
                            "grade": c["grade"],
                        }
                        for c in cols.iter_rows(named=True)
                    ]
                },
            }
        )
    for p in (products if products is not None else pl.DataFrame()).iter_rows(named=True):
        items.append(
            {
                "@type": "dcat:Dataset",
                "dct:identifier": p["handle"],
                "dct:title": p["title"],
                "dct:publisher": p["provider_handle"],
                "dct:accessRights": f"grade {p['grade']}",
                "dcat:keyword": ["data product", f"registration {p['registration_no']}", p["status"]],
            }
        )
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "prov": "http://www.w3.org/ns/prov#",
            "dqv": "http://www.w3.org/ns/dqv#",
            "csvw": "http://www.w3.org/ns/csvw#",
        },
        "@type": "dcat:Catalog",
        "dct:publisher": publisher,
        "dcat:dataset": items,
    }


_CSS = (
    "body{font-family:sans-serif;max-width:70em;margin:2em auto;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    ".g3{background:#fdd}.g2{background:#ffe9c4}"
)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>"
    )


def _fmt(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.3f}"
    if isinstance(v, list):
        return ", ".join(f"<a href='{html.escape(x)}.html'>{html.escape(x)}</a>" for x in v) or "–"
    return html.escape(str(v))


def _sparkline(values: list[float], target: float | None, width: int = 180, height: int = 36) -> str:
    """An inline SVG line of a KPI over its as-of days, with the target as a dashed line (no scripts)."""
    top = max([*values, target or 0.0, 1e-9])
    step = width / max(len(values) - 1, 1)

    def y(v: float) -> float:
        return height - 2 - (height - 4) * v / top

    points = " ".join(f"{i * step:.1f},{y(v):.1f}" for i, v in enumerate(values))
    goal = (
        f"<line x1='0' x2='{width}' y1='{y(target):.1f}' y2='{y(target):.1f}' stroke='#c33' stroke-dasharray='4 3'/>"
        if target
        else ""
    )
    dots = "".join(f"<circle cx='{i * step:.1f}' cy='{y(v):.1f}' r='2'/>" for i, v in enumerate(values))
    return (
        f"<svg width='{width}' height='{height}' role='img' aria-label='history'>{goal}"
        f"<polyline fill='none' stroke='#246' points='{points}'/>{dots}</svg>"
    )


def plan_section(plan: pl.DataFrame) -> str:
    """The plan's KPIs: latest value, target, progress, and the history as a line."""
    if plan.is_empty():
        return ""
    latest_day = plan["as_of_day"].max()
    rows = []
    for kpi, hist in plan.sort("as_of_day").group_by("kpi", maintain_order=True):
        last = hist.row(-1, named=True)
        values = [v for v in hist["value"].to_list() if v is not None]
        rows.append(
            f"<tr><td>{html.escape(str(kpi[0]))}</td><td>{html.escape(last['description'])}</td>"
            f"<td>{_fmt(last['value'])}</td><td>{_fmt(last['target'])}</td><td>{html.escape(last['unit'])}</td>"
            f"<td>{_fmt(last['progress_pct'])}</td><td>{_sparkline(values, last['target']) if values else '–'}</td></tr>"
        )
    return (
        f"<h2>Plan progress (as of {latest_day})</h2><table><tr><th>KPI</th><th>what</th><th>value</th>"
        f"<th>target</th><th>unit</th><th>progress %</th><th>over time</th></tr>{''.join(rows)}</table>"
    )


def products_section(products: pl.DataFrame) -> str:
    rows = "".join(
        f"<tr><td>{_fmt(p['handle'])}</td><td>{_fmt(p['title'])}</td><td>{_fmt(p['status'])}</td>"
        f"<td>{_fmt(p['provider_handle'])}</td><td>{_fmt(p['registration_no'])}</td></tr>"
        for p in products.iter_rows(named=True)
    )
    return (
        "<h2>Registered data products (标识)</h2><table><tr><th>handle</th><th>title</th><th>status</th>"
        f"<th>provider</th><th>registration</th></tr>{rows}</table>"
    )


def export_html(
    datasets: pl.DataFrame,
    columns: pl.DataFrame,
    out: Path,
    plan: pl.DataFrame | None = None,
    products: pl.DataFrame | None = None,
    graph: str = "",
) -> list[Path]:
    """A static site: index.html (with the plan's KPIs, the registered data products' handles and `graph`,
    a picture of the knowledge graph: warehouse.graph_picture) plus one page per dataset, browsable offline."""
    out.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f"<tr class='g{d['grade']}'><td><a href='{d['table_name']}.html'>{d['table_name']}</a></td>"
        f"<td>{_fmt(d['layer'])}</td><td>{_fmt(d['data_domain'])}</td><td>{d['grade']} ({GRADES[d['grade']]})</td>"
        f"<td>{_fmt(d['row_count'])}</td><td>{_fmt(d['pass_rate'])}</td><td>{_fmt(d['description'])}</td></tr>"
        for d in datasets.iter_rows(named=True)
    )
    written = [out / "index.html"]
    written[0].write_text(
        _page(
            "Resource directory",
            (
                "<h1>Resource directory 资源目录</h1>"
                + (plan_section(plan) if plan is not None else "")
                + "<h2>Datasets</h2><table><tr><th>dataset</th><th>layer</th><th>domain</th>"
                f"<th>grade</th><th>rows</th><th>pass rate</th><th>description</th></tr>{rows}</table>"
                + (products_section(products) if products is not None else "")
                + graph
            ),
        ),
        encoding="utf-8",
    )
    for d in datasets.iter_rows(named=True):
        cols = columns.filter(pl.col("table_name") == d["table_name"])
        facts = "".join(f"<tr><th>{k}</th><td>{_fmt(v)}</td></tr>" for k, v in d.items() if k != "table_name")
        crow = "".join(
            f"<tr class='g{c['grade']}'><td>{_fmt(c['column_name'])}</td><td>{_fmt(c['data_type'])}</td>"
            f"<td>{c['grade']} ({GRADES[c['grade']]})</td><td>{_fmt(c['description'])}</td></tr>"
            for c in cols.iter_rows(named=True)
        )
        page = out / f"{d['table_name']}.html"
        page.write_text(
            _page(
                d["table_name"],
                (
                    f"<p><a href='index.html'>&larr; directory</a></p><h1>{html.escape(d['table_name'])}</h1>"
                    f"<table>{facts}</table><h2>Columns</h2><table><tr><th>column</th><th>type</th><th>grade</th>"
                    f"<th>description</th></tr>{crow}</table>"
                ),
            ),
            encoding="utf-8",
        )
        written.append(page)
    return written


def export_dcat(
    datasets: pl.DataFrame,
    columns: pl.DataFrame,
    path: Path,
    publisher: str,
    products: pl.DataFrame | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(dcat(datasets, columns, publisher, products), ensure_ascii=False, indent=1, default=str),
        encoding="utf-8",
    )
    return path
