"""Landing -> bronze: every new landing file is ingested once, skipped as a re-sent copy, or rejected.

Idempotent by content hash: a file whose bytes were already ingested (under any name) adds nothing.
Bronze is appended before the file ledger (`catalog.landing_files`); if a crash falls between the two,
the next run sees the hash in bronze and does not ingest the file again.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assets.telemetry.landing import (
    RejectedFile,
    content_hash,
    landing_date,
    list_landing_files,
    read_landing_file,
)
from assets.telemetry.transform import route_reading_days
from warehouse.registry import BRONZE_TELEMETRY, DAY_BUILD, LANDING_FILES
from warehouse.storage import Lake

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Files are parsed and routed in chunks of about this many records and streamed into one bronze commit,
# so ingest holds one chunk, not the whole landing, in memory.
INGEST_CHUNK_ROWS = 1_000_000


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
    landing_root: Path,
    lake: Lake,
    *,
    run_id: str,
    watermark_days: int = 7,
    now: dt.datetime | None = None,
    progress=None,
) -> IngestResult:
    """Ingest every landing file version not seen before into bronze.telemetry_raw.

    A file is identified by path and content hash. The same bytes under a new name are a re-sent copy
    (`duplicate_file`); new bytes under a known path are a corrected re-delivery: they are ingested and
    the earlier version is marked `superseded`, so its records leave the silver build of their days.
    """
    now = now or dt.datetime.now(dt.UTC)
    seen = lake.read(LANDING_FILES)
    known_versions = set(zip(seen["source_file"].to_list(), seen["content_hash"].to_list(), strict=True))
    # A file whose path, size and modification time are already in the ledger is not read again.
    known_stats = set(seen.select("source_file", "size_bytes", "modified_at").iter_rows())
    current = seen.filter(pl.col("status") == "ingested")
    current_hash_of = dict(
        zip(current["source_file"].to_list(), current["content_hash"].to_list(), strict=True)
    )
    ingested_hashes = set(current["content_hash"].to_list())
    if lake.exists(BRONZE_TELEMETRY):  # recovery: bronze committed but ledger not
        ingested_hashes |= set(lake.read(BRONZE_TELEMETRY, columns=["content_hash"])["content_hash"].unique())
    first_name: dict[str, str] = {}
    ledger: list[dict] = []
    superseded: list[str] = []
    candidates = list_landing_files(landing_root / "telemetry")

    def landed_frames() -> Iterator[pl.DataFrame]:
        """Each new file's records, with lineage; the ledger row of every file seen as a side effect."""
        for n, path in enumerate(candidates):
            rel = path.relative_to(landing_root).as_posix()
            stat = path.stat()
            modified = _EPOCH + dt.timedelta(microseconds=stat.st_mtime_ns // 1000)
            if (rel, stat.st_size, modified) in known_stats:
                continue
            data = path.read_bytes()
            digest = content_hash(data)
            if (rel, digest) in known_versions:
                continue
            landed_on = landing_date(path)
            row = {
                "source_file": rel,
                "content_hash": digest,
                "size_bytes": len(data),
                "modified_at": modified,
                "landing_date": landed_on,
                "status": "ingested",
                "reason": None,
                "records": 0,
                "reading_days": [],
                "ingest_run_id": run_id,
                "ingested_at": now,
                "superseded_at": None,
            }
            rows = None
            if digest in ingested_hashes or digest in first_name:
                row |= {
                    "status": "duplicate_file",
                    "reason": f"same content as {first_name.get(digest, 'an ingested file')}",
                }
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
                    notes = landed.notes
                    if rel in current_hash_of:
                        notes = [*notes, f"supersedes version {current_hash_of[rel][:12]}"]
                        superseded.append(rel)
                    row |= {"records": rows.height, "reason": "; ".join(notes) or None}
            ledger.append(row)
            if progress is not None:
                progress(n + 1, len(candidates))
            if rows is not None:
                yield rows

    days_of: dict[str, list[dt.date]] = {}
    days_touched: set[dt.date] = set()
    records = 0

    def bronze_chunks() -> Iterator[pl.DataFrame]:
        """Whole files grouped into chunks of about INGEST_CHUNK_ROWS, routed (routing is per file)."""
        nonlocal records
        pending: list[pl.DataFrame] = []
        size = 0
        for frame in itertools.chain(landed_frames(), [None]):
            if frame is not None:
                pending.append(frame)
                size += frame.height
            if pending and (frame is None or size >= INGEST_CHUNK_ROWS):
                chunk = route_reading_days(pl.concat(pending, how="diagonal_relaxed"), watermark_days)
                pending, size = [], 0
                per_file = chunk.group_by("source_file").agg(pl.col("reading_day").unique().sort())
                days_of.update(per_file.iter_rows())
                days_touched.update(chunk["reading_day"].unique().to_list())
                records += chunk.height
                yield chunk.select(list(BRONZE_TELEMETRY.schema))

    result = IngestResult(files=pl.DataFrame(schema=LANDING_FILES.schema))
    version = lake.append_stream(BRONZE_TELEMETRY, bronze_chunks(), run_id=run_id)
    if records:
        result.bronze_version = version
        result.records = records
        result.days_touched = sorted(days_touched)
    for row in ledger:
        if row["status"] == "ingested" and row["source_file"] in days_of:
            row["reading_days"] = days_of[row["source_file"]]
    if superseded:
        old = current.filter(pl.col("source_file").is_in(superseded)).with_columns(
            status=pl.lit("superseded"),
            superseded_at=pl.lit(now, dtype=LANDING_FILES.schema["superseded_at"]),
        )
        ledger.extend(old.to_dicts())
    files = pl.DataFrame(ledger, schema=LANDING_FILES.schema)
    result.files = files
    if files.height:
        lake.upsert(LANDING_FILES, files, run_id=run_id)
    return result


def current_bronze(bronze: pl.DataFrame, files: pl.DataFrame) -> pl.DataFrame:
    """Bronze rows whose file version was not superseded by a corrected re-delivery."""
    gone = files.filter(pl.col("status") == "superseded").select("source_file", "content_hash")
    return bronze.join(gone, on=["source_file", "content_hash"], how="anti") if gone.height else bronze


def pending_days(lake: Lake, last_day: dt.date | None = None) -> list[dt.date]:
    """Reading days with records ingested after the day was last completely built (or never built).

    A day is built when `catalog.day_build` holds it: daily_job's last asset writes that row after every
    table of the day committed, so a run that failed or was killed part-way leaves the day pending.
    A rebuilt day also dirties the next day: its energy counts from the previous day's last meter reading.
    """
    files = lake.read(LANDING_FILES).filter(pl.col("status").is_in(["ingested", "superseded"]))
    if files.is_empty():
        return []
    landed = (
        files.with_columns(ingested_at=pl.max_horizontal("ingested_at", "superseded_at"))
        .explode("reading_days")
        .group_by(pl.col("reading_days").alias("day"))
        .agg(pl.col("ingested_at").max().alias("last_ingest"))
    )
    built = lake.read(DAY_BUILD, columns=["day", "run_started_at"])
    status = landed.join(built, on="day", how="left")
    dirty = set(
        status.filter(
            pl.col("run_started_at").is_null() | (pl.col("last_ingest") > pl.col("run_started_at"))
        )["day"]
    )
    built_days = set(built["day"].to_list())
    dirty |= {d + dt.timedelta(days=1) for d in dirty if d + dt.timedelta(days=1) in built_days}
    if last_day is not None:  # readings stamped in the future wait in bronze until their day exists
        dirty = {d for d in dirty if d <= last_day}
    return sorted(dirty)


def trailing_clean_counts(reconciliation: pl.DataFrame, table: str, day: dt.date, days: int = 7) -> list[int]:
    """Clean row counts of the table's partitions in the `days` before `day`, oldest first."""
    start = day - dt.timedelta(days=days)
    return (
        reconciliation.filter(pl.col("table_name") == table)
        .with_columns(d=pl.col("partition").str.to_date())
        .filter((pl.col("d") >= start) & (pl.col("d") < day))
        .sort("d")["clean"]
        .to_list()
    )
