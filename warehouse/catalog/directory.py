"""The directory's rows: catalog.dataset and catalog.column for every registry table, from the
registry's declarations, the Delta logs (no data scan), lineage, quality results and the SQL endpoint's
audit; and the registered data products it lists."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa

from warehouse.domain import DATA_DOMAINS, GRADE_TIERS
from warehouse.registry import CATALOG_COLUMN, CATALOG_DATASET, QUERY_AUDIT, TABLES, TableSpec
from warehouse.serving.contents import MARTS
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
    mart (a roll-up copy of one dataset, warehouse.serving.contents.MARTS) counts toward its source, once a statement."""
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
