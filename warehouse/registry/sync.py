"""The sync's ledger and privacy budget, and its channels: the national center and the industry nodes."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from warehouse.domain import INDUSTRIES, INDUSTRY_LIBRARIES
from warehouse.registry.spec import UTC_TS, TableSpec, cols

SYNC_LEDGER = TableSpec(
    name="catalog.sync_ledger",
    description="Every batch sent to the national center or an industry node: status, attempts, payload hash, node receipt, versions.",
    domain="external",
    grade=1,
    owner="national-sync",
    key=("node", "channel", "batch_id"),
    columns=cols(
        (
            "batch_id",
            pl.String,
            "Deterministic id: province, (channel,) period, version; the Idempotency-Key",
        ),
        ("period", pl.String, "Local day (YYYY-MM-DD) the batch reports"),
        ("version", pl.Int64, "1 for the first send of a period; +1 per restatement"),
        ("status", pl.String, "pending | sent | acknowledged | failed | skipped | held (restatement held)"),
        ("attempts", pl.Int64, "HTTP attempts so far"),
        ("payload_sha256", pl.String, "SHA-256 of the payload bytes"),
        ("rows", pl.Int64, "Rows in the payload"),
        (
            "cells_suppressed",
            pl.Int64,
            "Entries withheld by the release policy (primary, dominance, complementary, against earlier versions)",
        ),
        ("node", pl.String, "URL of the node the batch went to: each node's batches are its own"),
        ("node_id", pl.String, "The node's id from its receipt ('national' when the receipt names none)"),
        (
            "channel",
            pl.String,
            "Sync channel: 'national' (the national center) or an industry node (SYNC_CHANNELS below)",
        ),
        ("node_receipt", pl.String, "Receipt id returned by the node"),
        ("source_versions", pl.String, "JSON: Delta version of each source table read"),
        ("sent_at", UTC_TS, "Last send"),
        ("acknowledged_at", UTC_TS, "When the node acknowledged"),
        ("message", pl.String, "Last error or skip reason"),
        (
            "released",
            pl.String,
            "JSON: the batch's withheld entries and additive grade-2 values per disclosure group, kept in the "
            "province so a restatement is checked against every version the node holds (never sent)",
            2,
        ),
    ),
)

PRIVACY_BUDGET = TableSpec(
    name="catalog.privacy_budget",
    description="Differential-privacy budget spent per enterprise and period: one row per enterprise of "
    "each noisy cell drawn for the national sync, written before the noisy figures leave the province "
    "(assets/sync/noise.py). A release that would take an enterprise's period total above its budget "
    "leaves that cell withheld without noise.",
    domain="external",
    grade=2,
    owner="national-sync",
    key=("draw_id", "uscc"),
    columns=cols(
        ("draw_id", pl.String, "One fresh noise draw of one cell (a reused noisy value spends nothing)"),
        ("uscc", pl.String, "Enterprise contributing to the noisy cell", 2),
        ("period", pl.String, "Local day (YYYY-MM-DD) the batch reports"),
        ("channel", pl.String, "Sync channel the noisy figures went to"),
        ("node", pl.String, "URL of the node the batch went to"),
        ("version", pl.Int64, "Batch version the draw was made for"),
        ("city_code", pl.String, "Cell: city"),
        ("industry_code", pl.String, "Cell: GB/T 4754 division"),
        ("measures", pl.String, "The noisy measures of the cell, comma-separated"),
        ("mechanism", pl.String, "laplace"),
        ("epsilon", pl.Float64, "Privacy loss of the draw for this enterprise (the channel's epsilon)"),
        ("budget", pl.Float64, "The per-enterprise, per-period budget in force when drawn"),
        ("run_id", pl.String, "Run that drew the noise"),
        ("spent_at", UTC_TS, "When the draw was recorded"),
    ),
)


# ---- sync channels: who receives what ------------------------------------------------------------------
@dataclass(frozen=True)
class SyncChannel:
    """One receiver of released aggregates, declared once: the national center or an industry node.

    An industry node receives the rows of the province's release in its GB/T 4754 divisions (cells and
    per-division totals; never a city or province total, which would cover other industries), only the
    measures it names and only up to its grade. It is the same release (one suppression pattern per
    day), cut down: what any set of nodes holds together is part of what the national center holds.
    Its node URL and signing key come from the environment (warehouse/settings: LAKEHOUSE_SYNC_<NAME>_*).
    """

    name: str
    description: str
    libraries: tuple[str, ...] = ()  # industry topic libraries (warehouse.domain.INDUSTRY_LIBRARIES)
    extra_divisions: tuple[str, ...] = ()  # divisions received besides the libraries'
    measures: tuple[str, ...] | None = None  # assets/sync/measures.py names; None: every released one
    max_grade: int = 2  # the highest grade of a measure it may see (grade 3 never leaves anyway)
    cadence: str = "0 3 * * *"  # cron, local time (Asia/Shanghai): when new days go out
    margins: bool = False  # city and province totals (the national table's full margins)

    @property
    def divisions(self) -> tuple[str, ...]:
        """The GB/T 4754 divisions whose rows it receives, sorted (every division for the national center)."""
        if self.industry:
            return tuple(
                sorted(
                    {d for lib in self.libraries for d in INDUSTRY_LIBRARIES[lib]} | set(self.extra_divisions)
                )
            )
        return tuple(sorted(INDUSTRIES))

    @property
    def industry(self) -> bool:
        """An industry node (rows of its divisions only), as opposed to the national center."""
        return not self.margins


_ENERGY_MEASURES = (
    "enterprises",
    "electricity_kwh",
    "natural_gas_m3",
    "coal_t",
    "energy_tce",
    "completeness_pct",
    "availability_pct",
)
NATIONAL_CHANNEL = SyncChannel(
    "national",
    "The national industrial big-data center: every division, every released measure, with all margins.",
    margins=True,
)
SYNC_CHANNELS: dict[str, SyncChannel] = {
    c.name: c
    for c in (
        NATIONAL_CHANNEL,
        SyncChannel(
            "energy",
            "Energy industry node: power & energy divisions, every energy measure, daily after the national sync.",
            libraries=("power_energy",),
            measures=_ENERGY_MEASURES,
            cadence="30 3 * * *",
        ),
        SyncChannel(
            "machinery",
            "Machinery industry node: equipment manufacturing divisions, energy in tce, availability and "
            "trading, weekly (Mondays) for the week before.",
            libraries=("machinery",),
            measures=("enterprises", "energy_tce", "availability_pct", "trades", "trading_value_cny"),
            cadence="0 4 * * 1",
        ),
        SyncChannel(
            "chemicals",
            "Chemicals industry node: chemical divisions, energy and trading (a trading pilot), daily.",
            libraries=("chemicals",),
            measures=(*_ENERGY_MEASURES, "trades", "trading_value_cny"),
            cadence="45 3 * * *",
        ),
    )
}
