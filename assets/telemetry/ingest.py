"""Landing -> bronze: every landing file is ingested once, skipped as a re-sent copy, or rejected.

Idempotent by content hash: a file whose bytes were already ingested (under any name) adds nothing.
Bronze is appended before the file ledger (`catalog.landing_files`); if a crash falls between the two,
the next run sees the hash in bronze and does not ingest the file again.

Rejections are committed before they happen: the ledger row (status `rejected`) is written first, then
the file is moved to landing/rejected/ with its `.reason`. A crash between the two leaves a ledger row
whose file is still in place; every run starts by finishing those moves (`finish_rejections`), so a
rejected file always has both its row and its place in rejected/.

Nothing is read from outside landing/: symlinks and special files (fifos, sockets, devices) are rejected
without being opened; files still being written (in-progress names, see `landing.IN_PROGRESS_SUFFIXES`)
wait, and get a ledger row (`in_progress`) once they are older than the in-progress limit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from assets.telemetry.batch import Read, read_alone, read_batch
from assets.telemetry.buckets import BRONZE_ROW_GROUP_ROWS, equipment_buckets, sorted_for_shards
from assets.telemetry.landing import (
    LandedFile,
    LandingEntry,
    RejectedFile,
    local_date_of,
    modified_at,
    scan_landing,
)
from assets.telemetry.recovery import finish_rejections, move_rejected, unrecorded_bronze
from assets.telemetry.transform import route_reading_days
from warehouse.registry import BRONZE_TELEMETRY, LANDING_FILES
from warehouse.settings import FUTURE_TOLERANCE, IN_PROGRESS_MAX_AGE, LATE_WATERMARK_DAYS, Settings
from warehouse.storage import Lake

# Files' bronze rows are gathered in chunks of about this many records, sorted for the shards and streamed
# into one bronze commit, so ingest holds one chunk (and the look-ahead), not the whole landing, in memory.
INGEST_CHUNK_ROWS = 1_000_000
# Files are read and parsed on this many threads in batches of PARSE_BATCH consecutive files (the files
# of one format in a batch parsed in one polars call), at most PARSE_AHEAD batches ahead of the one being
# settled (a landing file is ~2,000 records: the look-ahead holds about one chunk, so the workers go on
# while the chunk before is sorted and written).
# One thread more than cores: a worker holding the GIL (decoding, hashing set-up) leaves polars' pool
# idle otherwise (10M readings on 2 cores: 1.60 -> 1.71-1.76 cores busy, ingest ~10% shorter).
PARSE_THREADS = min(4, (os.cpu_count() or 1) + 1)
PARSE_BATCH = 32
PARSE_AHEAD = 16
_UNREAD_REASON = {
    "symlink": "symlink: a symbolic link is not followed; write the file itself into landing/",
    "special": "special_file: not a regular file (fifo, socket or device); not read",
}


@dataclass
class IngestResult:
    files: pl.DataFrame  # rows for catalog.landing_files
    records: int = 0
    bronze_version: int | None = None
    days_touched: list[dt.date] = field(default_factory=list)
    moved: int = 0  # rejected files moved to landing/rejected/ (this run's and recovered ones)
    # seconds per phase: files (list, read, hash, wait for the workers), parse, lineage and route (summed
    # over the worker threads, overlapping the rest), layout (chunk sort), write (bronze files + commit),
    # ledger
    seconds: dict[str, float] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return self.files.filter(pl.col("status") == status).height

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        rej = self.files.filter(pl.col("status") == "rejected")
        return dict(rej.group_by("reason").len().sort("reason").iter_rows())


def _unread_hash(entry: LandingEntry) -> str:
    """A stand-in for the content hash of an entry that is never opened: hash of what the entry is."""
    ident = f"{entry.size}|{entry.mtime_ns}"
    if entry.kind == "symlink":
        with contextlib.suppress(OSError):  # removed or replaced since the listing: keep the stat
            ident = os.readlink(entry.path)
    return hashlib.sha256(f"{entry.kind}\0{ident}".encode()).hexdigest()


def ingest_landing(
    landing_root: Path,
    lake: Lake,
    *,
    run_id: str,
    watermark_days: int = LATE_WATERMARK_DAYS,
    future_tolerance: dt.timedelta = FUTURE_TOLERANCE,
    in_progress_max_age: dt.timedelta = IN_PROGRESS_MAX_AGE,
    now: dt.datetime | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> IngestResult:
    """Ingest every landing file version not seen before into bronze.telemetry_raw.

    A file is identified by path and content hash. The same bytes under a new name are a re-sent copy
    (`duplicate_file`); new bytes under a known path are a corrected re-delivery: they are ingested and
    the earlier version is marked `superseded`, so its records leave the silver build of their days.
    Any error while reading one file rejects that file (never the run).
    """
    now = now or dt.datetime.now(dt.UTC)
    seen = lake.read(LANDING_FILES)
    moved = finish_rejections(landing_root, seen)
    # (path, content hash) -> (status, reason) of every version already on the ledger
    known_versions = {
        (rel, digest): (status, reason)
        for rel, digest, status, reason in seen.select(
            "source_file", "content_hash", "status", "reason"
        ).iter_rows()
    }
    # A file whose path, size and modification time are already in the ledger is not read again.
    known_stats = set(seen.select("source_file", "size_bytes", "modified_at").iter_rows())
    current = seen.filter(pl.col("status") == "ingested")
    current_hash_of = dict(
        zip(current["source_file"].to_list(), current["content_hash"].to_list(), strict=True)
    )
    ingested_hashes = set(current["content_hash"].to_list())
    in_bronze_only = unrecorded_bronze(lake, set(seen["ingest_run_id"].unique().to_list()))
    first_name: dict[str, str] = {}
    ledger: list[dict] = []
    to_move: list[tuple[str, str, str]] = []  # (rel, reason, detail), moved after the ledger commit
    superseded: list[str] = []
    # listed as the files are handed out: the workers parse the first batch while the rest is listed
    candidates = scan_landing(landing_root)

    def ledger_row(entry: LandingEntry, digest: str, status: str, reason: str | None) -> dict:
        return {
            "source_file": entry.rel,
            "content_hash": digest,
            "size_bytes": entry.size,
            "modified_at": modified_at(entry.mtime_ns),
            "landing_date": local_date_of(entry.mtime_ns),
            "status": status,
            "reason": reason,
            "records": 0,
            "reading_days": [],
            "ingest_run_id": run_id,
            "ingested_at": now,
            "superseded_at": None,
        }

    def reject(entry: LandingEntry, digest: str, err: RejectedFile) -> None:
        ledger.append(ledger_row(entry, digest, "rejected", err.reason))
        to_move.append((entry.rel, err.reason, err.detail))

    seconds: dict[str, float] = dict.fromkeys(
        ["files", "parse", "lineage", "route", "layout", "write", "ledger"], 0.0
    )

    def timed(phase: str, t0: float) -> float:
        now_t = time.perf_counter()
        seconds[phase] += now_t - t0
        return now_t

    # Digests whose fate is known before this run reads anything: their bytes need no parse.
    known_digests = ingested_hashes | {digest for _, digest in known_versions} | set(in_bronze_only)

    days_touched: set[dt.date] = set()
    records = 0

    def read_files(entries: list[LandingEntry]) -> list[Read]:
        """On a worker: `read_batch`, then the parsed files' records as bronze rows (`as_bronze`)."""
        reads, parse_seconds = read_batch(entries, known_digests)
        seconds["parse"] += parse_seconds  # from several threads: a lost update only blurs a timing
        return as_bronze(reads)

    def as_bronze(reads: list[Read]) -> list[Read]:
        """Each parsed file's records with lineage, reading day (routing is per file) and shard bucket,
        and its reading days; one polars pass over the batch, on the worker that parsed it."""
        todo = [n for n, r in enumerate(reads) if r.landed is not None and r.landed.rows.height]
        if not todo:
            return reads
        t0 = time.perf_counter()
        frames = [reads[n].landed.rows for n in todo]
        files = pl.DataFrame(
            {
                "source_file": [reads[n].entry.rel for n in todo],
                "content_hash": [reads[n].digest for n in todo],
                "landing_date": [local_date_of(reads[n].entry.mtime_ns) for n in todo],
            }
        )
        # each file's lineage repeated over its rows: a gather by file index, no join
        file_of_row = (
            pl.Series(range(len(frames)), dtype=pl.UInt32)
            .repeat_by(pl.Series([f.height for f in frames], dtype=pl.UInt32))
            .explode()
        )
        rows = pl.concat(frames, how="diagonal_relaxed").with_columns(
            *[files[c].gather(file_of_row) for c in files.columns],
            ingest_run_id=pl.lit(run_id),
            ingested_at=pl.lit(now, dtype=BRONZE_TELEMETRY.schema["ingested_at"]),
        )
        t1 = time.perf_counter()
        seconds["lineage"] += t1 - t0
        rows = route_reading_days(rows, watermark_days, future_tolerance)
        rows = rows.with_columns(equipment_buckets(rows["equipment_id"])).select(
            list(BRONZE_TELEMETRY.schema)
        )
        days = dict(rows.group_by("source_file").agg(pl.col("reading_day").unique().sort()).iter_rows())
        out, start = list(reads), 0
        for n, f in zip(todo, frames, strict=True):
            landed = LandedFile(rows.slice(start, f.height), reads[n].landed.notes)
            out[n] = replace(reads[n], landed=landed, days=tuple(days[reads[n].entry.rel]))
            start += f.height
        seconds["route"] += time.perf_counter() - t1
        return out

    def settle(read: Read) -> pl.DataFrame | None:
        """One file's fate, decided in listing order as a one-by-one pass would: recorded as a re-sent
        copy, a recovered one, a duplicate, a rejection, or ingested (its bronze rows returned)."""
        nonlocal records
        entry, digest, rel = read.entry, read.digest, read.entry.rel
        if digest is None:  # not read: swapped for a link or special file, unreadable, or gone
            if isinstance(read.error, RejectedFile):
                reject(entry, _unread_hash(entry), read.error)
            elif not isinstance(read.error, FileNotFoundError):  # removed since the listing: nothing to do
                reject(
                    entry, _unread_hash(entry), RejectedFile("unreadable", f"{rel}: {read.error.strerror}")
                )
            return None
        known = known_versions.get((rel, digest))
        if known is not None:
            if known[0] == "rejected":  # the same rejected bytes dropped again: back to rejected/
                to_move.append((rel, known[1], f"{rel}: same content as a version rejected earlier"))
            return None
        if digest in in_bronze_only and digest not in ingested_hashes and digest not in first_name:
            # its records reached bronze in a run that died before its ledger commit: record them now
            first_name[digest] = rel
            row = ledger_row(entry, digest, "ingested", "recovered: records committed by an interrupted run")
            row["records"], row["reading_days"] = in_bronze_only[digest]
            ledger.append(row)
            return None
        if digest in ingested_hashes or digest in first_name:
            reason = f"same content as {first_name.get(digest, 'an ingested file')}"
            ledger.append(ledger_row(entry, digest, "duplicate_file", reason))
            return None
        if entry.kind == "unsupported":
            reject(
                entry,
                digest,
                RejectedFile("unsupported_format", f"{rel}: only .csv, .jsonl and .parquet are read"),
            )
            return None
        if read.landed is None and read.error is None:  # skipped as known, its first copy rejected here
            read = as_bronze([read.parsed(read_alone(entry.path, rel))])[0]
        if read.error is not None:
            reject(entry, digest, read.error)
            return None
        landed = read.landed
        first_name[digest] = rel
        notes = landed.notes
        if rel in current_hash_of:
            notes = [*notes, f"supersedes version {current_hash_of[rel][:12]}"]
            superseded.append(rel)
        row = ledger_row(entry, digest, "ingested", "; ".join(notes) or None)
        row["records"], row["reading_days"] = landed.rows.height, list(read.days)
        ledger.append(row)
        records += landed.rows.height
        days_touched.update(read.days)
        return landed.rows if landed.rows.height else None

    def landed_frames() -> Iterator[pl.DataFrame]:
        """Each new file's bronze rows; the ledger row of every file seen as a side effect.

        Files are read, hashed, parsed and routed on PARSE_THREADS threads (hashlib and polars release
        the GIL) in batches of PARSE_BATCH, up to PARSE_AHEAD batches ahead of the one being settled;
        their fates are settled in listing order, so the ledger and the first name of each content are
        what a one-by-one pass would record.
        """
        in_flight: deque[Future] = deque()
        batch: list[LandingEntry] = []

        def settled(future: Future) -> Iterator[pl.DataFrame]:
            yield from (out for read in future.result() if (out := settle(read)) is not None)

        listed = 0
        with ThreadPoolExecutor(max_workers=PARSE_THREADS, thread_name_prefix="ingest") as pool:
            for listed, entry in enumerate(candidates, 1):
                if progress is not None:
                    progress(listed, None)
                if (entry.rel, entry.size, modified_at(entry.mtime_ns)) in known_stats:
                    continue
                if entry.kind == "in_progress":
                    if now - modified_at(entry.mtime_ns) > in_progress_max_age:
                        reason = (
                            f"stale_in_progress: older than {in_progress_max_age}; rename it to be ingested"
                        )
                        ledger.append(ledger_row(entry, _unread_hash(entry), "in_progress", reason))
                    continue
                if entry.kind in _UNREAD_REASON:
                    code, detail = _UNREAD_REASON[entry.kind].split(": ", 1)
                    reject(entry, _unread_hash(entry), RejectedFile(code, f"{entry.rel}: {detail}"))
                    continue
                batch.append(entry)
                if len(batch) == PARSE_BATCH:
                    in_flight.append(pool.submit(read_files, batch))
                    batch = []
                while in_flight and (len(in_flight) > PARSE_AHEAD or in_flight[0].done()):
                    yield from settled(in_flight.popleft())
            if progress is not None:
                progress(listed, listed)  # the listing's end: the total is known
            if batch:
                in_flight.append(pool.submit(read_files, batch))
            while in_flight:
                yield from settled(in_flight.popleft())

    def bronze_chunks() -> Iterator[pl.DataFrame]:
        """Whole files' bronze rows in chunks of about INGEST_CHUNK_ROWS, each sorted for the shards."""
        frames: list[pl.DataFrame] = []
        size = 0
        landed = itertools.chain(landed_frames(), [None])
        while True:
            t = time.perf_counter()
            item = next(landed)
            t = timed("files", t)
            if item is not None:
                frames.append(item)
                size += item.height
            if frames and (item is None or size >= INGEST_CHUNK_ROWS):
                chunk = sorted_for_shards(pl.concat(frames, how="vertical_relaxed"))
                frames, size = [], 0
                timed("layout", t)
                yield chunk
            if item is None:
                return

    result = IngestResult(files=pl.DataFrame(schema=LANDING_FILES.schema), seconds=seconds)
    t = time.perf_counter()
    version = lake.append_stream(
        BRONZE_TELEMETRY, bronze_chunks(), run_id=run_id, row_group_rows=BRONZE_ROW_GROUP_ROWS
    )
    streamed = time.perf_counter() - t  # the chunks were made inside the append: the rest is writing
    seconds["write"] = max(0.0, streamed - seconds["files"] - seconds["layout"])
    t = time.perf_counter()
    if records:
        result.bronze_version = version
        result.records = records
        result.days_touched = sorted(days_touched)
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
    timed("ledger", t)
    # Only now that every rejection is on the ledger do the files move (see finish_rejections).
    for rel, reason, detail in to_move:
        moved += move_rejected(landing_root, rel, reason, detail)
    result.moved = moved
    return result


def current_bronze(bronze: pl.DataFrame, files: pl.DataFrame) -> pl.DataFrame:
    """Bronze rows whose file version was not superseded by a corrected re-delivery."""
    gone = files.filter(pl.col("status") == "superseded").select("source_file", "content_hash")
    return bronze.join(gone, on=["source_file", "content_hash"], how="anti") if gone.height else bronze


def ingest_home(
    settings: Settings,
    lake: Lake,
    *,
    run_id: str,
    progress: Callable[[int, int | None], None] | None = None,
) -> IngestResult:
    """ingest_landing over the home's landing folder, with its settings' watermark and tolerances."""
    return ingest_landing(
        settings.landing,
        lake,
        run_id=run_id,
        watermark_days=settings.late_watermark_days,
        future_tolerance=settings.future_tolerance,
        in_progress_max_age=settings.in_progress_max_age,
        progress=progress,
    )
