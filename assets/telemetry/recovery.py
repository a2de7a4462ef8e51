"""Finishing what an interrupted ingest left: rejected files whose ledger row is committed but which
are still in landing/ (moved now), and bronze records whose ledger commit never happened (found by run
id, recorded by the next ingest). The ingest calls both at its start."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl

from assets.telemetry.landing import modified_at
from warehouse.registry import BRONZE_TELEMETRY
from warehouse.storage import Lake


def move_rejected(landing_root: Path, rel: str, reason: str, detail: str | None = None) -> bool:
    """Move landing/<rel> to landing/rejected/<rel> with a `.reason` beside it; False if already gone.

    The `.reason` is written first (atomically), the entry itself is renamed (never copied or followed:
    a symlink moves as a link). Running it twice does no harm; without `detail` (recovery), a `.reason`
    already written is kept.
    """
    source = landing_root / rel
    if not os.path.lexists(source):
        return False
    target = landing_root / "rejected" / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    note = target.with_name(target.name + ".reason")
    if detail is not None or not note.exists():
        tmp = note.with_name(note.name + ".tmp")
        tmp.write_text(f"{reason}\n{detail or 'recorded in catalog.landing_files'}\n", encoding="utf-8")
        os.replace(tmp, note)
    os.replace(source, target)
    return True


def finish_rejections(landing_root: Path, ledger: pl.DataFrame) -> int:
    """Recovery: move files whose `rejected` ledger row is committed but which are still in landing/.

    Matched by path, size and modification time, so a new file dropped under the same name is not moved.
    """
    rejected = ledger.filter(pl.col("status") == "rejected")
    moved = 0
    for rel, size, modified, reason in rejected.select(
        "source_file", "size_bytes", "modified_at", "reason"
    ).iter_rows():
        path = landing_root / rel
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if st.st_size == size and modified_at(st.st_mtime_ns) == modified:
            moved += move_rejected(landing_root, rel, reason)
    return moved


def unrecorded_bronze(lake: Lake, ledger_runs: set[str]) -> dict[str, tuple[int, list[dt.date]]]:
    """Recovery: content hash -> (records, reading days) of bronze rows whose ledger commit never happened.

    Only the run-id column of bronze is scanned in full (one value per data file, cheap to read), not
    every row's content hash: the work does not grow with what bronze already holds correctly.
    """
    if not lake.exists(BRONZE_TELEMETRY):
        return {}
    orphans = lake.read(
        BRONZE_TELEMETRY,
        where=~pl.col("ingest_run_id").is_in(sorted(ledger_runs)),
        columns=["content_hash", "reading_day"],
    )
    per_file = orphans.group_by("content_hash").agg(pl.len(), pl.col("reading_day").unique().sort())
    return {h: (n, days) for h, n, days in per_file.iter_rows()}
