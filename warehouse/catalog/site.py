"""The directory as a static HTML site, browsable offline: an index (datasets, the plan's KPIs with
their history as inline SVG, the registered data products) and one page per dataset. No scripts."""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from warehouse.domain import GRADES

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
