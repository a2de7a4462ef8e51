"""catalog.sync_ledger: what was sent for which day, and what to send next.

A row is written `pending` before each attempt of a batch goes out (with the attempt counted) and
`acknowledged` once the node's receipt is back, so a crash in between leaves a `pending` row that the
next run re-sends under the same batch id (the node answers with its stored receipt), and the ledger never
counts fewer attempts than the node received. A day whose released figures hash differently from the last
acknowledged ones is a restatement and goes out as the next version.

Every row belongs to one node (its URL, and the node id its receipt gives) and one channel: a new node or
channel starts from nothing. Each sent row keeps what its batch withheld and its additive values
(`released`, grade 2, never sent) so a restatement is released against every version that node holds.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass

import polars as pl
from deltalake import CommitProperties
from deltalake.exceptions import CommitFailedError

from assets.sync.batch import Batch, batch_id
from assets.sync.release import Held
from warehouse.registry import SYNC_LEDGER
from warehouse.storage import Lake

OPEN = ("pending", "sent", "failed")  # sent, maybe stored by the node, not acknowledged
NOT_SENT = ("skipped", "held")  # nothing left the province
DEFAULT_CHANNEL = "national"
DEFAULT_NODE_ID = "national"  # what a receipt without `node_id` comes from: the national reference node
COMPACT_ABOVE_FILES = 16


def migrate(lake: Lake, run_id: str) -> bool:
    """A ledger written before node identity: its rows are the national channel's (one commit, once)."""
    if not lake.exists(SYNC_LEDGER):
        return False
    if "channel" in lake.table(SYNC_LEDGER).schema().to_arrow().names:
        return False
    old = lake.read(SYNC_LEDGER)
    rows = old.with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in SYNC_LEDGER.schema.items() if c not in old.columns]
    ).with_columns(pl.lit(DEFAULT_CHANNEL).alias("channel"))
    lake.overwrite(SYNC_LEDGER, rows, run_id=run_id)
    return True


def node_rows(lake: Lake, node_url: str, channel: str = DEFAULT_CHANNEL) -> pl.DataFrame:
    """Every ledger row of one node and channel."""
    # Filtered in polars, not with a pyarrow `where`: files rewritten by MERGE hold string_view columns and
    # pyarrow has no string == string_view kernel.
    return lake.read(SYNC_LEDGER).filter((pl.col("node") == node_url) & (pl.col("channel") == channel))


def period_rows(lake: Lake, period: str, node_url: str, channel: str = DEFAULT_CHANNEL) -> pl.DataFrame:
    """The ledger rows of a period at one node and channel (another node's sends say nothing about it)."""
    return node_rows(lake, node_url, channel).filter(pl.col("period") == period)


def other_channels_rows(lake: Lake, period: str, channel: str) -> pl.DataFrame:
    """The ledger rows of a period at every other channel's nodes: readers of the same release, whose
    versions a release to this channel must not be combinable with either."""
    return lake.read(SYNC_LEDGER).filter((pl.col("period") == period) & (pl.col("channel") != channel))


def _sent(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.filter(~pl.col("status").is_in(NOT_SENT))


def held_versions(rows: pl.DataFrame) -> list[Held]:
    """What the node may hold of the period: every version sent to it, acknowledged or not (a send that
    was never acknowledged may have been stored). Rows from before `released` was kept are not known."""
    sent = _sent(rows).filter(pl.col("released").is_not_null()).sort("version")
    return [Held.from_record(json.loads(r)) for r in sent["released"]]


def next_version(rows: pl.DataFrame) -> int:
    """The version a new send of the period would carry: versions are never reused for other figures."""
    sent = _sent(rows)
    return int(sent["version"].max() or 0) + 1  # type: ignore[operator]


@dataclass(frozen=True)
class Plan:
    action: str  # "send" | "unchanged"
    version: int
    prior_attempts: int = 0
    recovering: bool = False  # re-sending a batch that was sent but never acknowledged
    restatement: bool = False  # the period was acknowledged before with other figures
    superseded: dict | None = None  # an unacknowledged row whose figures are outdated
    acknowledged: dict | None = None  # the acknowledged row when unchanged


def plan(rows: pl.DataFrame, payload_sha256: str) -> Plan:
    """Decide what to send for a period, given its ledger rows and the hash of today's figures."""
    acked = rows.filter(pl.col("status") == "acknowledged").sort("version")
    last_ack = acked.row(-1, named=True) if acked.height else None
    floor = last_ack["version"] if last_ack else 0
    open_rows = rows.filter(pl.col("status").is_in(OPEN) & (pl.col("version") > floor)).sort("version")
    if open_rows.height:
        pending = open_rows.row(-1, named=True)
        if pending["payload_sha256"] == payload_sha256:
            return Plan(
                "send",
                pending["version"],
                int(pending["attempts"] or 0),
                recovering=True,
                restatement=last_ack is not None,
            )
        return Plan("send", next_version(rows), restatement=last_ack is not None, superseded=pending)
    if last_ack and last_ack["payload_sha256"] == payload_sha256:
        return Plan("unchanged", last_ack["version"], acknowledged=last_ack)
    return Plan("send", next_version(rows), restatement=last_ack is not None)


def _row(**fields) -> pl.DataFrame:
    base = {c: None for c in SYNC_LEDGER.schema}
    return pl.DataFrame([base | fields], schema=SYNC_LEDGER.schema)


def _upsert(lake: Lake, row: pl.DataFrame, run_id: str, tries: int = 5) -> None:
    """One MERGE; concurrent runs for other days may race on the commit, so a conflict is retried."""
    for attempt in range(tries):
        try:
            lake.upsert(SYNC_LEDGER, row, run_id=run_id)
            return
        except CommitFailedError:
            if attempt == tries - 1:
                raise
            time.sleep(0.1 * 2**attempt)


def compact(lake: Lake, run_id: str, above_files: int = COMPACT_ABOVE_FILES) -> bool:
    """Bin-pack the ledger's small files once there are many: every MERGE adds one, and each read and merge
    of the ledger (two per batch) scans them all. Data unchanged; best effort (a concurrent commit wins).

    Maintenance belongs in warehouse/storage.py (a `Lake.compact(spec)`); until it is there, it is here.
    """
    if not lake.exists(SYNC_LEDGER) or len(lake.table(SYNC_LEDGER).file_uris()) <= above_files:
        return False
    try:
        lake.table(SYNC_LEDGER).optimize.compact(
            commit_properties=CommitProperties(
                custom_metadata={
                    "run_id": run_id,
                    "lakehouse.operation": "compact",
                    "table": SYNC_LEDGER.name,
                }
            )
        )
    except CommitFailedError:
        return False
    return True


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Sending:
    """What the ledger keeps about a batch besides its status."""

    batch: Batch
    node_url: str
    rows: int
    cells_suppressed: int
    channel: str = DEFAULT_CHANNEL
    released: Held | None = None

    def fields(self) -> dict:
        released = None
        if self.released is not None:
            record = self.released.record() | {"version": self.batch.version}
            released = json.dumps(record, separators=(",", ":"))
        return {
            "batch_id": self.batch.batch_id,
            "period": self.batch.period,
            "version": self.batch.version,
            "payload_sha256": self.batch.payload_sha256,
            "rows": self.rows,
            "cells_suppressed": self.cells_suppressed,
            "node": self.node_url,
            "channel": self.channel,
            "source_versions": json.dumps(self.batch.manifest["source_versions"], sort_keys=True),
            "released": released,
        }


def record_pending(lake: Lake, s: Sending, *, attempts: int, run_id: str, message: str | None = None) -> None:
    _upsert(
        lake, _row(**s.fields(), status="pending", attempts=attempts, sent_at=_now(), message=message), run_id
    )


def record_acknowledged(
    lake: Lake,
    s: Sending,
    *,
    attempts: int,
    receipt_id: str,
    node_id: str,
    run_id: str,
    message: str | None = None,
) -> None:
    now = _now()
    _upsert(
        lake,
        _row(
            **s.fields(),
            status="acknowledged",
            attempts=attempts,
            node_receipt=receipt_id,
            node_id=node_id,
            sent_at=now,
            acknowledged_at=now,
            message=message,
        ),
        run_id,
    )


def record_failed(lake: Lake, s: Sending, *, attempts: int, message: str, run_id: str) -> None:
    _upsert(
        lake, _row(**s.fields(), status="failed", attempts=attempts, sent_at=_now(), message=message), run_id
    )


def record_superseded(lake: Lake, row: dict, *, by_version: int, run_id: str) -> None:
    """An unacknowledged batch whose figures changed before it got through: the next version replaces it."""
    _upsert(
        lake,
        _row(
            **(
                row
                | {
                    "status": "failed",
                    "message": f"superseded by version {by_version} before "
                    "acknowledgment; the node may hold it, the higher version is current",
                }
            )
        ),
        run_id,
    )


def record_skipped(
    lake: Lake,
    *,
    province: str,
    period: str,
    version: int,
    node_url: str,
    reason: str,
    run_id: str,
    channel: str = DEFAULT_CHANNEL,
    status: str = "skipped",
) -> None:
    """A day not released (blocking checks failed, theme missing; `held`: its restatement would expose
    what the node holds): nothing was sent."""
    _upsert(
        lake,
        _row(
            batch_id=batch_id(province, period, version, channel),
            period=period,
            version=version,
            status=status,
            attempts=0,
            rows=0,
            cells_suppressed=0,
            node=node_url,
            channel=channel,
            message=reason,
        ),
        run_id,
    )


def preview(lake: Lake, days: list[dt.date], node_url: str, channel: str = DEFAULT_CHANNEL) -> dict:
    """What a sync of `days` to this node and channel is about to do, from the ledger alone (no build):
    days never sent there, days to resume (sent, not acknowledged), days to check for a restatement."""
    rows = node_rows(lake, node_url, channel) if lake.exists(SYNC_LEDGER) else pl.DataFrame()
    node_ids = sorted(set(rows["node_id"].drop_nulls())) if rows.height else []
    out: dict = {"node_ids": node_ids, "new": [], "resume": [], "check": []}
    for day in days:
        period = rows.filter(pl.col("period") == day.isoformat()) if rows.height else rows
        acked = period.filter(pl.col("status") == "acknowledged") if period.height else period
        floor = int(acked["version"].max() or 0) if acked.height else 0  # type: ignore[arg-type]
        if period.height and period.filter(pl.col("status").is_in(OPEN) & (pl.col("version") > floor)).height:
            out["resume"].append(day)
        elif floor:
            out["check"].append(day)
        else:
            out["new"].append(day)
    return out
