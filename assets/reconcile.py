"""catalog.reconciliation rows for unpartitioned sources (one row per landing file), written only on change."""

from __future__ import annotations

import polars as pl

from quality.checks import Reconciliation
from warehouse.registry import RECONCILIATION, TableSpec
from warehouse.storage import Lake

_COUNTS = ["landed", "clean", "quarantined", "duplicates"]


def record(store: Lake, spec: TableSpec, parts: dict[str, Reconciliation], run_id: str) -> None:
    """Upsert the rows; those whose counts did not change commit nothing (the spec's record columns)."""
    if parts:
        store.upsert(
            RECONCILIATION, pl.concat([r.row(spec, p, run_id) for p, r in parts.items()]), run_id=run_id
        )


def total(parts: dict[str, Reconciliation]) -> Reconciliation:
    return Reconciliation(*(sum(getattr(r, c) for r in parts.values()) for c in _COUNTS))
