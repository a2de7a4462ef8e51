"""catalog.sync_ledger: what was sent for which day, and what to send next.

A row is written `pending` before a batch goes out and `acknowledged` once the node's receipt is back,
so a crash in between leaves a `pending` row that the next run re-sends under the same batch id (the
node answers with its stored receipt). A day whose released figures hash differently from the last
acknowledged ones is a restatement and goes out as the next version.
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
from warehouse.registry import SYNC_LEDGER
from warehouse.storage import Lake

OPEN = ("pending", "sent", "failed")  # sent, maybe stored by the node, not acknowledged
COMPACT_ABOVE_FILES = 16


def period_rows(lake: Lake, period: str) -> pl.DataFrame:
    # Filtered in polars, not with a pyarrow `where`: files rewritten by MERGE hold string_view columns and
    # pyarrow has no string == string_view kernel.
    return lake.read(SYNC_LEDGER).filter(pl.col("period") == period)


def _sent(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.filter(pl.col("status") != "skipped")


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

    def fields(self) -> dict:
        return {
            "batch_id": self.batch.batch_id,
            "period": self.batch.period,
            "version": self.batch.version,
            "payload_sha256": self.batch.payload_sha256,
            "rows": self.rows,
            "cells_suppressed": self.cells_suppressed,
            "node": self.node_url,
            "source_versions": json.dumps(self.batch.manifest["source_versions"], sort_keys=True),
        }


def record_pending(lake: Lake, s: Sending, *, attempts: int, run_id: str, message: str | None = None) -> None:
    _upsert(
        lake, _row(**s.fields(), status="pending", attempts=attempts, sent_at=_now(), message=message), run_id
    )


def record_acknowledged(
    lake: Lake, s: Sending, *, attempts: int, receipt_id: str, run_id: str, message: str | None = None
) -> None:
    now = _now()
    _upsert(
        lake,
        _row(
            **s.fields(),
            status="acknowledged",
            attempts=attempts,
            node_receipt=receipt_id,
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
    lake: Lake, *, province: str, period: str, version: int, node_url: str, reason: str, run_id: str
) -> None:
    """A day not released (blocking checks failed, theme missing): nothing was sent."""
    _upsert(
        lake,
        _row(
            batch_id=batch_id(province, period, version),
            period=period,
            version=version,
            status="skipped",
            attempts=0,
            rows=0,
            cells_suppressed=0,
            node=node_url,
            message=reason,
        ),
        run_id,
    )
