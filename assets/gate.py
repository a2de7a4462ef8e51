"""The tail every gated partition build shares: validate, log reconciliation and rule outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from quality.checks import Evaluation, Reconciliation, evaluate
from warehouse.registry import (
    QUALITY_RESULTS,
    RECONCILIATION,
    TableSpec,
)
from warehouse.settings import Settings
from warehouse.storage import Lake


@dataclass
class Gated:
    """One table's built partition to close: its frame, its reconciliation (the partition's, or one per
    landing file in `sources` for a table without partitions) and the extra inputs of its checks."""

    spec: TableSpec
    df: pl.DataFrame
    partition: str = "current"
    recon: Reconciliation | None = None
    sources: dict[str, Reconciliation] | None = None
    checks: dict = field(default_factory=dict)  # evaluate()'s row_rule_counts, evaluated, context, gx_frames

    @property
    def reconciliation(self) -> Reconciliation | None:
        return Reconciliation.total(self.sources.values()) if self.sources is not None else self.recon

    def recon_rows(self, run_id: str) -> list[pl.DataFrame]:
        if self.sources is not None:
            return [r.row(self.spec, source, run_id) for source, r in self.sources.items()]
        return [self.recon.row(self.spec, self.partition, run_id)] if self.recon is not None else []


def gate_partitions(store: Lake, settings: Settings, items: list[Gated], *, run_id: str) -> list[Evaluation]:
    """Every gated asset closes here: run each table's checks, then keep the reconciliation rows and the
    outcomes in the catalog, one commit per catalog table for the batch (a Delta MERGE costs more than a
    small table's build). Rows that differ only in who-and-when columns commit nothing (Lake.upsert)."""
    evaluations = [
        evaluate(
            g.spec,
            g.df,
            partition=g.partition,
            run_id=run_id,
            gx_home=settings.gx_home,
            reconciliation=g.reconciliation,
            **g.checks,
        )
        for g in items
    ]
    recon_rows = [row for g in items for row in g.recon_rows(run_id)]
    if recon_rows:
        store.upsert(RECONCILIATION, pl.concat(recon_rows), run_id=run_id)
    store.upsert(QUALITY_RESULTS, pl.concat([e.results for e in evaluations]), run_id=run_id)
    return evaluations


def gate_partition(
    store: Lake,
    settings: Settings,
    spec: TableSpec,
    df: pl.DataFrame,
    *,
    run_id: str,
    partition: str = "current",
    recon: Reconciliation | None = None,
    sources: dict[str, Reconciliation] | None = None,
    **checks,
) -> Evaluation:
    """gate_partitions for one table."""
    gated = Gated(spec, df, partition, recon, sources, checks)
    return gate_partitions(store, settings, [gated], run_id=run_id)[0]
