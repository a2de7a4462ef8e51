"""Landing -> bronze: every new landing file is ingested once, skipped as a re-sent copy, or rejected.

Idempotent by content hash: a file whose bytes were already ingested (under any name) adds nothing.
Bronze is appended before the file ledger (`catalog.landing_files`); if a crash falls between the two,
the next run sees the hash in bronze and does not ingest the file again.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from warehouse.registry import BRONZE_TELEMETRY, LANDING_FILES, RECONCILIATION, SILVER_TELEMETRY
from warehouse.storage import Lake

from assets.telemetry.landing import (
    RejectedFile,
    content_hash,
    landing_date,
    list_landing_files,
    read_landing_file,
)
from assets.telemetry.transform import reading_day


@dataclass
class IngestResult:
    files: pl.DataFrame  # rows for catalog.landing_files
    records: int = 0
    bronze_version: int | None = None
    days_touched: list[dt.date] = field(default_factory=list)

    def count(self, status: str) -> int:
        return self.files.filter(pl.col("status") == status).height

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        rej = self.files.filter(pl.col("status") == "rejected")
        return dict(rej.group_by("reason").len().sort("reason").iter_rows())


def _reject(landing_root: Path, path: Path, rel: str, err: RejectedFile) -> None:
    """Move an unreadable file to landing/rejected/ with a .reason file beside it."""
    target = landing_root / "rejected" / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), target)
    target.with_name(target.name + ".reason").write_text(f"{err.reason}\n{err.detail}\n", encoding="utf-8")


def ingest_landing(
    landing_root: Path, lake: Lake, *, run_id: str, now: dt.datetime | None = None, progress=None
) -> IngestResult:
    """Ingest every landing file not seen before into bronze.telemetry_raw."""
    now = now or dt.datetime.now(dt.UTC)
    seen = lake.read(LANDING_FILES, columns=["source_file", "content_hash", "status"])
    seen_paths = set(seen["source_file"].to_list())
    ingested_hashes = set(seen.filter(pl.col("status") == "ingested")["content_hash"].to_list())
    if lake.exists(BRONZE_TELEMETRY):  # recovery: bronze committed but ledger not
        ingested_hashes |= set(lake.read(BRONZE_TELEMETRY, columns=["content_hash"])["content_hash"].unique())
    first_name: dict[str, str] = {}
    ledger, frames = [], []
    new_files = [
        p for p in list_landing_files(landing_root / "telemetry")
        if p.relative_to(landing_root).as_posix() not in seen_paths
    ]
    for n, path in enumerate(new_files):
        rel = path.relative_to(landing_root).as_posix()
        data = path.read_bytes()
        digest = content_hash(data)
        landed_on = landing_date(path)
        row = {
            "source_file": rel, "content_hash": digest, "size_bytes": len(data), "landing_date": landed_on,
            "status": "ingested", "reason": None, "records": 0, "reading_days": [],
            "ingest_run_id": run_id, "ingested_at": now,
        }
        if digest in ingested_hashes or digest in first_name:
            row |= {"status": "duplicate_file", "reason": f"same content as {first_name.get(digest, 'an ingested file')}"}
        else:
            try:
                landed = read_landing_file(path, rel, data)
            except RejectedFile as err:
                _reject(landing_root, path, rel, err)
                row |= {"status": "rejected", "reason": err.reason}
            else:
                first_name[digest] = rel
                rows = landed.rows.with_columns(
                    landing_date=pl.lit(landed_on),
                    source_file=pl.lit(rel),
                    content_hash=pl.lit(digest),
                    ingest_run_id=pl.lit(run_id),
                    ingested_at=pl.lit(now),
                )
                rows = rows.with_columns(reading_day=reading_day(rows, landed_on))
                frames.append(rows)
                days = sorted(rows["reading_day"].unique().to_list())
                row |= {"records": rows.height, "reading_days": days, "reason": "; ".join(landed.notes) or None}
        ledger.append(row)
        if progress is not None:
            progress(n + 1, len(new_files))
    files = pl.DataFrame(ledger, schema=LANDING_FILES.schema)
    result = IngestResult(files=files)
    if frames:
        bronze = pl.concat(frames, how="diagonal_relaxed")
        result.bronze_version = lake.append(BRONZE_TELEMETRY, bronze.select(list(BRONZE_TELEMETRY.schema)), run_id=run_id)
        result.records = bronze.height
        result.days_touched = sorted(bronze["reading_day"].unique().to_list())
    if files.height:
        lake.append(LANDING_FILES, files, run_id=run_id)
    return result


def pending_days(lake: Lake) -> list[dt.date]:
    """Reading days with records ingested after the day's silver partition was last built (or never).

    A rebuilt day also dirties the next day: its energy counts from the previous day's last meter reading.
    """
    files = lake.read(LANDING_FILES).filter(pl.col("status") == "ingested")
    if files.is_empty():
        return []
    landed = (
        files.explode("reading_days")
        .group_by(pl.col("reading_days").alias("day"))
        .agg(pl.col("ingested_at").max().alias("last_ingest"))
    )
    built = (
        lake.read(RECONCILIATION)
        .filter(pl.col("table_name") == SILVER_TELEMETRY.name)
        .select(pl.col("partition").str.to_date().alias("day"), "built_at")
    )
    status = landed.join(built, on="day", how="left")
    dirty = set(status.filter(pl.col("built_at").is_null() | (pl.col("last_ingest") > pl.col("built_at")))["day"])
    built_days = set(built["day"].to_list())
    dirty |= {d + dt.timedelta(days=1) for d in dirty if d + dt.timedelta(days=1) in built_days}
    return sorted(dirty)
