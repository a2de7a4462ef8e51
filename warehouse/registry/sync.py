"""The national sync's ledger."""

from __future__ import annotations

import polars as pl

from warehouse.registry.spec import UTC_TS, TableSpec, cols

SYNC_LEDGER = TableSpec(
    name="catalog.sync_ledger",
    description="Every batch sent up to the national center: status, attempts, payload hash, node receipt, versions.",
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
            "Sync channel: 'national' (the national center); industry-node channels later",
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
