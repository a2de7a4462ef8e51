"""Freshness, visible on the assets' pages.

- Tables declaring `fresh_within` in the registry (bronze and the telemetry day tables: daily, 26 hours) carry
  a Dagster freshness policy (`assets/metadata.py: spec_kwargs`): the UI marks them stale when their last
  materialization is older.
- `feeds_on_time`, an asset check on catalog/feed_status that runs with catalog_job: a warning listing the
  enterprises whose telemetry feed is late or silent (the national energy-monitoring rule).
"""

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from assets.resources import LakeResource
from warehouse.registry import FEED_STATUS


@asset_check(
    asset=AssetKey(FEED_STATUS.asset_key),
    name="feeds_on_time",
    description="Every enterprise's telemetry feed is on time (none late or silent); warns otherwise.",
)
def feeds_on_time(context: AssetCheckExecutionContext, lake: LakeResource) -> AssetCheckResult:
    """Warns while any enterprise's telemetry feed is late or silent, naming them (up to 50)."""
    status = lake.lake.read(FEED_STATUS)
    stale = status.filter(pl.col("status") != "on_time").sort("status", "uscc")
    counts = dict(status.group_by("status").len().iter_rows())
    listing = "\n".join(f"- {r['uscc']}: {r['status']}" for r in stale.head(50).iter_rows(named=True))
    return AssetCheckResult(
        passed=stale.is_empty(),
        severity=AssetCheckSeverity.WARN,
        metadata={
            **{f"feeds/{s}": int(counts.get(s, 0)) for s in ("on_time", "late", "silent")},
            "late_or_silent": MetadataValue.md(listing or "_(none)_"),
        },
    )
