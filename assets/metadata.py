"""What the Dagster UI shows for a table: description, column schema, tags, previews and counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from dagster import AssetSpec, FreshnessPolicy, MaterializeResult, MetadataValue, TableColumn, TableSchema

from warehouse.domain import DATA_DOMAINS, GRADE_TIERS, GRADES
from warehouse.registry import TableSpec

if TYPE_CHECKING:
    from quality.checks import Evaluation


def column_schema(spec: TableSpec) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(
                name=c.name,
                type=str(c.dtype),
                description=f"{c.description} [grade {c.grade} {GRADES[c.grade]}]",
                tags={"grade": str(c.grade)},
            )
            for c in spec.columns
        ]
    )


def spec_kwargs(spec: TableSpec) -> dict:
    """AssetSpec/@asset keyword arguments derived from the registry entry."""
    freshness = (
        {"freshness_policy": FreshnessPolicy.time_window(fail_window=spec.fresh_within)}
        if spec.fresh_within
        else {}
    )
    return {
        **freshness,
        "key": spec.asset_key,
        "description": spec.description,
        "group_name": spec.asset_group,
        "owners": [f"team:{spec.owner}"],
        "kinds": {"delta", "polars"},
        "tags": {"domain": spec.domain, "grade": str(spec.grade), **spec.tags},
        "metadata": {
            "dagster/column_schema": column_schema(spec),
            "table": spec.name,
            "partitioned_by": spec.partition_by or "none",
            "file_layout": (
                "files merged by month" if spec.month_files else "Delta partitions by " + spec.partition_by
            )
            if spec.partition_by
            else "unpartitioned",
            "key": ", ".join(spec.key),
            "data_domain": DATA_DOMAINS[spec.domain],
            "grade": f"{spec.grade} ({GRADES[spec.grade]}, {GRADE_TIERS[spec.grade]})",
        },
    }


def asset_spec(spec: TableSpec, **extra) -> AssetSpec:
    kwargs = spec_kwargs(spec)
    return AssetSpec(**kwargs, **extra)


def preview(df: pl.DataFrame, rows: int = 10) -> MetadataValue:
    """A small Markdown table of the first rows, for the UI."""
    head = df.head(rows)
    if head.is_empty():
        return MetadataValue.md("_(no rows)_")
    cols = head.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
    return MetadataValue.md("\n".join(lines))


def counts_table(counts: dict[str, int], label: str = "reason") -> MetadataValue:
    if not counts:
        return MetadataValue.md("_(none)_")
    lines = [f"| {label} | count |", "|---|---:|", *[f"| {k} | {v:,} |" for k, v in sorted(counts.items())]]
    return MetadataValue.md("\n".join(lines))


def quarantine_metadata(quarantined: pl.DataFrame, reasons: dict[str, int], version: int) -> dict:
    """Metadata of a quarantine table's materialization: counts by reason (plotted) and a sample."""
    return {
        "dagster/row_count": quarantined.height,
        "by_reason": counts_table(reasons),
        **{f"reason/{k}": v for k, v in reasons.items()},
        "delta_version": version,
        "preview": preview(quarantined),
    }


def materialized(spec: TableSpec, metadata: dict, evaluation: Evaluation | None = None) -> MaterializeResult:
    """One output of a (multi-)asset: its metadata and, when it was gated, its check results."""
    return MaterializeResult(
        asset_key=spec.asset_key,
        metadata=metadata,
        check_results=evaluation.check_results if evaluation is not None else None,
    )
