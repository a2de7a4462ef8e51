"""The ledger's identity: rows per node and channel; a ledger from before that is migrated once."""

from __future__ import annotations

import polars as pl
from deltalake import write_deltalake

from assets.sync import ledger
from warehouse.registry import SYNC_LEDGER
from warehouse.storage import Lake

OLD_COLUMNS = [c for c in SYNC_LEDGER.schema if c not in ("node_id", "channel", "released")]


def old_row(period: str, version: int, status: str, node: str = "http://old-node") -> dict:
    return {c: None for c in OLD_COLUMNS} | {
        "batch_id": f"37-{period}-v{version}",
        "period": period,
        "version": version,
        "status": status,
        "attempts": 1,
        "payload_sha256": "abc",
        "node": node,
    }


def test_a_ledger_from_before_node_identity_becomes_the_national_channels_once(tmp_path):
    lake = Lake(tmp_path)
    rows = pl.DataFrame(
        [old_row("2026-10-01", 1, "acknowledged"), old_row("2026-10-02", 1, "pending")],
        schema={c: SYNC_LEDGER.schema[c] for c in OLD_COLUMNS},
    )
    write_deltalake(str(lake.path(SYNC_LEDGER)), rows.to_arrow())
    assert ledger.migrate(lake, "t") and not ledger.migrate(lake, "t")
    migrated = lake.read(SYNC_LEDGER)
    assert set(migrated["channel"]) == {"national"} and migrated.height == 2
    assert ledger.period_rows(lake, "2026-10-01", "http://old-node").height == 1
    assert ledger.period_rows(lake, "2026-10-01", "http://new-node").is_empty()  # a new node: nothing


def test_a_new_node_or_channel_plans_version_1_while_the_old_node_plans_unchanged(tmp_path):
    lake = Lake(tmp_path)
    rows = pl.DataFrame(
        [old_row("2026-10-01", 3, "acknowledged")], schema={c: SYNC_LEDGER.schema[c] for c in OLD_COLUMNS}
    )
    write_deltalake(str(lake.path(SYNC_LEDGER)), rows.to_arrow())
    ledger.migrate(lake, "t")
    assert ledger.plan(ledger.period_rows(lake, "2026-10-01", "http://old-node"), "abc").action == "unchanged"
    for node, channel in (("http://new-node", "national"), ("http://old-node", "chemicals")):
        plan = ledger.plan(ledger.period_rows(lake, "2026-10-01", node, channel), "abc")
        assert (plan.action, plan.version, plan.restatement) == ("send", 1, False)
