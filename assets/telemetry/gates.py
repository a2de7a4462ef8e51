"""The telemetry day's gates: bronze's file checks, silver shard by shard, the two theme tables whole.
Each closes its table through assets.gate.gate_partition, as every gated table does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import polars as pl

from assets.gate import gate_partition
from assets.telemetry.days import trailing_clean_counts
from assets.telemetry.shards import DayBuild, read_staged
from quality.checks import Evaluation, Reconciliation, evaluate
from warehouse.domain import local_today
from warehouse.registry import (
    BRONZE_TELEMETRY,
    ENERGY_DAILY,
    ENTERPRISE,
    EQUIPMENT_DAILY,
    LANDING_FILES,
    QUALITY_RESULTS,
    RECONCILIATION,
    SILVER_TELEMETRY,
)
from warehouse.settings import Settings
from warehouse.storage import Lake


def gate_ingest_day(store: Lake, settings: Settings, *, files_seen: int, run_id: str) -> Evaluation:
    """Bronze's checks over the file ledger, under today's partition. Recorded only when this run saw a
    file: a run that saw none must not overwrite today's record of the files an earlier run did see."""
    today = local_today()
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


def silver_day_checks(
    store: Lake,
    day: dt.date,
    *,
    frames: Iterable[pl.DataFrame],
    rows: int,
    landed: int,
    reasons: dict[str, int],
) -> dict:
    """What silver.telemetry's `evaluate` is given besides its frame for a sharded day: the row rules'
    counts, the GX suite's pieces (`frames`, one shard's rows at a time) and the partition rules' context
    (exact day totals, the enterprises on record, the trailing days' clean counts)."""
    return {
        "row_rule_counts": reasons,
        "gx_frames": frames,
        "context": {
            "rows": rows,
            "landed": landed,
            "quarantine_reasons": reasons,
            "enterprises": store.read(ENTERPRISE, columns=["uscc"]),
            "trailing_row_counts": trailing_clean_counts(
                store.read(RECONCILIATION), SILVER_TELEMETRY.name, day
            ),
        },
    }


def gate_silver_day(store: Lake, settings: Settings, build: DayBuild, *, run_id: str) -> Evaluation:
    """silver.telemetry of a sharded day: GX shard by shard (its expectations hold per shard, the reading
    key includes the equipment), partition rules and reconciliation on the exact day totals."""
    return gate_partition(
        store,
        settings,
        SILVER_TELEMETRY,
        build.energy.select("uscc"),  # the enterprises sending: the same set as silver's uscc
        partition=build.day.isoformat(),
        run_id=run_id,
        recon=Reconciliation(build.landed, build.clean, build.quarantined, build.duplicates),
        **silver_day_checks(
            store,
            build.day,
            frames=(read_staged(store, SILVER_TELEMETRY, f) for f in build.staged(SILVER_TELEMETRY)),
            rows=build.clean,
            landed=build.landed,
            reasons=build.reasons,
        ),
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
        context={"day_in_progress": build.day >= local_today()},
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
