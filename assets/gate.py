"""The tail every gated partition build shares: validate, log reconciliation and rule outcomes."""

from __future__ import annotations

import polars as pl

from quality.checks import Evaluation, Reconciliation, evaluate
from warehouse.registry import QUALITY_RESULTS, RECONCILIATION, TableSpec
from warehouse.settings import Settings
from warehouse.storage import Lake


def gate_partition(
    store: Lake,
    settings: Settings,
    spec: TableSpec,
    df: pl.DataFrame,
    *,
    partition: str,
    run_id: str,
    recon: Reconciliation,
    **kwargs,
) -> Evaluation:
    """Run the table's checks on one built partition; keep the reconciliation and outcomes in the catalog."""
    evaluation = evaluate(
        spec, df, partition=partition, run_id=run_id, gx_home=settings.gx_home, reconciliation=recon, **kwargs
    )
    store.upsert(RECONCILIATION, recon.row(spec, partition, run_id), run_id=run_id)
    store.upsert(QUALITY_RESULTS, evaluation.results, run_id=run_id)
    return evaluation
