"""catalog.reconciliation rows for unpartitioned sources (one row per landing file), written only on change."""

from __future__ import annotations

import polars as pl

from quality.checks import Reconciliation
from warehouse.registry import RECONCILIATION, TableSpec
from warehouse.storage import Lake

_COUNTS = ["landed", "clean", "quarantined", "duplicates"]


def record(store: Lake, spec: TableSpec, parts: dict[str, Reconciliation], run_id: str) -> None:
    """Upsert the rows whose counts changed, so a re-run with the same inputs commits nothing."""
    if not parts:
        return
    rows = pl.concat([r.row(spec, p, run_id) for p, r in parts.items()])
    old = store.read(RECONCILIATION).filter(pl.col("table_name") == spec.name).select("partition", *_COUNTS)
    changed = rows.join(old, on=["partition", *_COUNTS], how="anti")
    if changed.height:
        store.upsert(RECONCILIATION, changed, run_id=run_id)


def total(parts: dict[str, Reconciliation]) -> Reconciliation:
    return Reconciliation(*(sum(getattr(r, c) for r in parts.values()) for c in _COUNTS))
