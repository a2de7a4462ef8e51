"""The tail every gated partition build shares: validate, log reconciliation and rule outcomes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import polars as pl

from quality.checks import Evaluation, Reconciliation, evaluate
from warehouse.domain import TIMEZONE
from warehouse.registry import (
    BRONZE_TELEMETRY,
    ENERGY_DAILY,
    ENTERPRISE,
    EQUIPMENT_DAILY,
    LANDING_FILES,
    QUALITY_RESULTS,
    RECONCILIATION,
    SILVER_TELEMETRY,
    TableSpec,
)
from warehouse.settings import Settings
from warehouse.storage import Lake

if TYPE_CHECKING:  # the telemetry day build reads the golden record, whose closing is declared here
    from assets.telemetry.shards import DayBuild


def gate_ingest_day(store: Lake, settings: Settings, *, files_seen: int, run_id: str) -> Evaluation:
    """Bronze's checks over the file ledger, under today's partition. Recorded only when this run saw a
    file: a run that saw none must not overwrite today's record of the files an earlier run did see."""
    today = dt.datetime.now(ZoneInfo(TIMEZONE)).date()
    evaluation = evaluate(
        BRONZE_TELEMETRY,
        store.read(LANDING_FILES),
        partition=today.isoformat(),
        run_id=run_id,
        gx_home=settings.gx_home,
        context={"run_id": run_id, "today": today},
    )
    if files_seen:
        store.upsert(QUALITY_RESULTS, evaluation.results, run_id=run_id)
    return evaluation


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


def gate_silver_day(store: Lake, settings: Settings, build: DayBuild, *, run_id: str) -> Evaluation:
    """silver.telemetry of a sharded day: GX shard by shard (its expectations hold per shard, the reading
    key includes the equipment), partition rules and reconciliation on the exact day totals."""
    from assets.telemetry.days import trailing_clean_counts
    from assets.telemetry.shards import read_staged

    day = build.day
    partition = day.isoformat()
    return gate_partition(
        store,
        settings,
        SILVER_TELEMETRY,
        build.energy.select("uscc"),  # the enterprises sending: the same set as silver's uscc
        partition=partition,
        run_id=run_id,
        recon=Reconciliation(build.landed, build.clean, build.quarantined, build.duplicates),
        row_rule_counts=build.reasons,
        gx_frames=(read_staged(store, SILVER_TELEMETRY, f) for f in build.staged(SILVER_TELEMETRY)),
        context={
            "rows": build.clean,
            "landed": build.landed,
            "quarantine_reasons": build.reasons,
            "enterprises": store.read(ENTERPRISE, columns=["uscc"]),
            "trailing_row_counts": trailing_clean_counts(
                store.read(RECONCILIATION), SILVER_TELEMETRY.name, day
            ),
        },
    )


def gate_themes_day(
    store: Lake, settings: Settings, build: DayBuild, *, run_id: str
) -> tuple[Evaluation, Evaluation]:
    """theme.energy_daily and theme.equipment_daily of a sharded day (one row per equipment: whole)."""
    partition = build.day.isoformat()
    energy, operations = build.energy, build.equipment
    energy_eval = gate_partition(
        store,
        settings,
        ENERGY_DAILY,
        energy,
        partition=partition,
        run_id=run_id,
        # Every silver reading of the day is counted in exactly one equipment row.
        recon=Reconciliation(build.clean, int(energy["readings_received"].sum() or 0), 0, 0),
        context={"day_in_progress": build.day >= dt.datetime.now(ZoneInfo(TIMEZONE)).date()},
    )
    counted = int(
        (operations["readings_good"] + operations["readings_uncertain"] + operations["readings_bad"]).sum()
        or 0
    )
    equipment_eval = gate_partition(
        store,
        settings,
        EQUIPMENT_DAILY,
        operations,
        partition=partition,
        run_id=run_id,
        recon=Reconciliation(build.clean, counted, 0, 0),
    )
    return energy_eval, equipment_eval
