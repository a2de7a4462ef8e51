"""The quality scorecard: every table's pass rate per partition, from catalog.quality_results."""

from __future__ import annotations

import polars as pl


def quality_scorecard(results: pl.DataFrame) -> pl.DataFrame:
    """Rows evaluated/failed summed over rules (reconciliation and GX alike) per table and partition."""
    return (
        results.group_by("table_name", "partition")
        .agg(
            rules=pl.len(),
            rules_failed=(~pl.col("passed")).sum(),
            rows_evaluated=pl.col("evaluated").sum(),
            rows_failed=pl.col("failed").sum(),
            last_checked_at=pl.col("checked_at").max(),
        )
        .with_columns(
            pass_rate=pl.when(pl.col("rows_evaluated") > 0)
            .then(1.0 - pl.col("rows_failed") / pl.col("rows_evaluated"))
            .otherwise(1.0)
        )
        .sort("table_name", "partition")
    )
