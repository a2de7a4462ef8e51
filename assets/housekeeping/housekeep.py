"""Nightly housekeeping: keep every table fast to read and the disk bounded, table by table from the registry.

Per Delta table (through `warehouse.storage.Lake`):

1. compaction: partitions holding two or more small files are rewritten into files of the target size,
   Z-ordered by the registry's `cluster_by` where it declares one (one commit, data unchanged);
2. orphans: files in a partition folder that no commit ever referenced (a build killed before its commit)
   and older than the retention are deleted (`Lake.remove_orphans`);
3. VACUUM: files of earlier versions removed longer ago than the retention are deleted, so time travel
   to any version inside the retention window keeps working and no running reader (younger than the
   retention) loses a file;
4. checkpoint: the current version is checkpointed and expired log files are removed.

A table that fails (a concurrent commit to the same partition, say) is reported with its error and left
as it was; the next night tries again. Every step is a Delta commit or a deletion of files no reachable
version names, so a kill -9 at any point leaves each table readable at its last version.

Beside the lake: old Dagster runs (with their event logs) and old GX results and Data Docs pages.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assets.day_range import RANGE_END_TAG, RANGE_START_TAG
from warehouse.registry import HOUSEKEEPING, TABLES, TableSpec
from warehouse.settings import Settings
from warehouse.storage import Lake


@dataclass(frozen=True)
class Usage:
    """Data files of the current version (live) and on disk (any version, orphans), and the version."""

    version: int | None
    live_files: int
    live_bytes: int
    disk_files: int
    disk_bytes: int


def usage(lake: Lake, spec: TableSpec) -> Usage:
    live = lake.live_files(spec)
    files, size = lake.disk_usage(spec)
    return Usage(
        lake.version(spec) if lake.exists(spec) else None,
        live.height,
        int(live["size_bytes"].sum() or 0),
        files,
        size,
    )


@dataclass
class TableHousekeeping:
    table: str
    started_at: dt.datetime
    before: Usage
    after: Usage | None = None
    seconds: float = 0.0
    partitions_compacted: int = 0
    files_compacted: int = 0
    cluster_by: tuple[str, ...] = ()
    files_vacuumed: int = 0
    orphans_removed: int = 0
    checkpoint_version: int | None = None
    log_files_removed: int = 0
    error: str | None = None

    def observation(self) -> dict:
        """What the table's own asset page shows after a housekeeping run (plotted over nights)."""
        after, before = self.after or self.before, self.before
        return {
            "housekeeping/live_files": after.live_files,
            "housekeeping/disk_files": after.disk_files,
            "housekeeping/disk_bytes": after.disk_bytes,
            "housekeeping/before": f"{before.live_files} live files, {before.disk_files} on disk, "
            f"{before.disk_bytes:,} bytes",
            **({"housekeeping/error": self.error} if self.error else {}),
        }

    def row(self, run_id: str, retention_hours: float) -> dict:
        after = self.after or self.before
        return {
            "run_id": run_id,
            "table_name": self.table,
            "started_at": self.started_at,
            "seconds": self.seconds,
            "version_before": self.before.version,
            "version_after": after.version,
            "live_files_before": self.before.live_files,
            "live_files_after": after.live_files,
            "live_bytes_before": self.before.live_bytes,
            "live_bytes_after": after.live_bytes,
            "disk_files_before": self.before.disk_files,
            "disk_files_after": after.disk_files,
            "disk_bytes_before": self.before.disk_bytes,
            "disk_bytes_after": after.disk_bytes,
            "partitions_compacted": self.partitions_compacted,
            "files_compacted": self.files_compacted,
            "cluster_by": ",".join(self.cluster_by),
            "files_vacuumed": self.files_vacuumed,
            "orphans_removed": self.orphans_removed,
            "checkpoint_version": self.checkpoint_version,
            "log_files_removed": self.log_files_removed,
            "retention_hours": float(retention_hours),
            "error": self.error,
        }


def housekeep_table(
    lake: Lake, spec: TableSpec, *, retention_hours: float, run_id: str, now: dt.datetime | None = None
) -> TableHousekeeping:
    """Compact, remove orphans, VACUUM and checkpoint one table (see the module docstring)."""
    t0 = time.perf_counter()
    report = TableHousekeeping(spec.name, now or dt.datetime.now(dt.UTC), usage(lake, spec))
    if report.before.version is None:
        report.after = report.before
        return report
    try:
        crowded = lake.small_file_partitions(spec)
        if crowded:
            metrics = lake.compact(spec, crowded, run_id=run_id, cluster_by=spec.cluster_by)
            report.partitions_compacted = int(metrics.get("partitionsOptimized", 0))
            report.files_compacted = int(metrics.get("numFilesRemoved", 0))
            report.cluster_by = tuple(c for c in spec.cluster_by if c != spec.partition_by)
        min_age = retention_hours * 3600
        report.orphans_removed = sum(
            lake.remove_orphans(spec, p, min_age_seconds=min_age) for p in lake.partitions(spec)
        )
        report.files_vacuumed = len(lake.vacuum(spec, retention_hours=retention_hours, run_id=run_id))
        report.checkpoint_version, report.log_files_removed = lake.checkpoint(spec)
    except Exception as exc:  # one table's failure leaves it as it was; the others carry on
        report.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    report.after = usage(lake, spec)
    report.seconds = time.perf_counter() - t0
    return report


def housekeep_lake(
    lake: Lake, tables: Iterable[TableSpec], *, retention_hours: float, run_id: str
) -> list[TableHousekeeping]:
    """Every existing table of the registry, one after another (the housekeeping log itself included)."""
    return [
        housekeep_table(lake, spec, retention_hours=retention_hours, run_id=run_id)
        for spec in tables
        if lake.exists(spec)
    ]


def housekeeping_rows(
    reports: list[TableHousekeeping], *, run_id: str, retention_hours: float
) -> pl.DataFrame:
    return pl.DataFrame(
        [r.row(run_id, retention_hours) for r in reports], schema=HOUSEKEEPING.schema, orient="row"
    )


@dataclass
class Totals:
    tables: int = 0
    failed: list[str] = field(default_factory=list)
    live_files_before: int = 0
    live_files_after: int = 0
    disk_files_before: int = 0
    disk_files_after: int = 0
    disk_bytes_before: int = 0
    disk_bytes_after: int = 0
    live_bytes_after: int = 0
    files_compacted: int = 0
    files_vacuumed: int = 0
    orphans_removed: int = 0


def totals(reports: list[TableHousekeeping]) -> Totals:
    t = Totals(tables=len(reports))
    for r in reports:
        after = r.after or r.before
        t.live_files_before += r.before.live_files
        t.live_files_after += after.live_files
        t.disk_files_before += r.before.disk_files
        t.disk_files_after += after.disk_files
        t.disk_bytes_before += r.before.disk_bytes
        t.disk_bytes_after += after.disk_bytes
        t.live_bytes_after += after.live_bytes
        t.files_compacted += r.files_compacted
        t.files_vacuumed += r.files_vacuumed
        t.orphans_removed += r.orphans_removed
        if r.error:
            t.failed.append(r.table)
    return t


def report_markdown(reports: list[TableHousekeeping]) -> str:
    """Per table: files and bytes (live / on disk) before -> after, what was done; for the UI."""
    lines = [
        "| table | live files | disk files | disk MiB | compacted | vacuumed | orphans | error |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in reports:
        a = r.after or r.before
        mib = 1 << 20
        lines.append(
            f"| {r.table} | {r.before.live_files} → {a.live_files} | {r.before.disk_files} → {a.disk_files} "
            f"| {r.before.disk_bytes / mib:.2f} → {a.disk_bytes / mib:.2f} | {r.files_compacted} "
            f"| {r.files_vacuumed} | {r.orphans_removed} | {r.error or ''} |"
        )
    return "\n".join(lines)


# ---- Dagster's run history ---------------------------------------------------------------------------

FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def prune_runs(instance, older_than: dt.timedelta, now: dt.datetime) -> int:
    """Delete finished Dagster runs created before now - `older_than`, with their event logs.

    The newest run of each job and partition stays whatever its age: it holds the latest
    materializations (metadata, check results) the UI shows for those assets and partitions. A run of a
    range of days counts as a run of each of its days. Runs in progress are never touched.
    """
    from dagster import DagsterRunStatus, RunsFilter

    statuses = [DagsterRunStatus(s) for s in FINISHED]
    newest: set[str] = set()
    seen: set[tuple[str, str | None]] = set()
    for record in instance.get_run_records(filters=RunsFilter(statuses=statuses)):  # newest first
        keys = {(record.dagster_run.job_name, p) for p in run_partitions(record.dagster_run.tags)}
        if keys - seen:
            seen |= keys
            newest.add(record.dagster_run.run_id)
    old = instance.get_run_records(filters=RunsFilter(statuses=statuses, created_before=now - older_than))
    deleted = 0
    for record in old:
        if record.dagster_run.run_id not in newest:
            instance.delete_run(record.dagster_run.run_id)
            deleted += 1
    return deleted


def run_partitions(tags: dict[str, str]) -> list[str | None]:
    """The daily partitions a run built: its partition, every day of its range, or None (unpartitioned)."""
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not (start and end):
        return [None]
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def folder_usage(folder: Path) -> Usage:
    sizes = [f.stat().st_size for f in folder.rglob("*") if f.is_file()] if folder.is_dir() else []
    return Usage(None, 0, 0, len(sizes), int(sum(sizes)))


@dataclass
class HomeHousekeeping:
    """One housekeeping pass over a home: every table, Dagster's run history, GX results."""

    tables: list[TableHousekeeping]
    history: list[TableHousekeeping]  # "(dagster)" and "(gx)": folders before/after, what was deleted
    retention_hours: float

    def rows(self, run_id: str) -> pl.DataFrame:
        return housekeeping_rows(
            [*self.tables, *self.history], run_id=run_id, retention_hours=self.retention_hours
        )

    def metadata(self) -> dict:
        """Totals (plotted in the UI over nights) and the per-table report."""
        t = totals(self.tables)
        mib = 1 << 20
        return {
            "tables": t.tables,
            "tables_failed": len(t.failed),
            "live_files_before": t.live_files_before,
            "live_files_after": t.live_files_after,
            "disk_files_before": t.disk_files_before,
            "disk_files_after": t.disk_files_after,
            "disk_mib_before": round(t.disk_bytes_before / mib, 3),
            "disk_mib_after": round(t.disk_bytes_after / mib, 3),
            "live_mib_after": round(t.live_bytes_after / mib, 3),
            "files_compacted": t.files_compacted,
            "files_vacuumed": t.files_vacuumed,
            "orphans_removed": t.orphans_removed,
            "dagster_runs_deleted": self.history[0].files_vacuumed if self.history else 0,
            "gx_results_removed": self.history[1].files_vacuumed if len(self.history) > 1 else 0,
            "retention_hours": self.retention_hours,
            "report": report_markdown([*self.tables, *self.history]),
        }


def housekeep_home(
    lake: Lake, settings: Settings, instance, *, run_id: str, now: dt.datetime
) -> HomeHousekeeping:
    """Every table of the registry, then runs older than LAKEHOUSE_RUN_RETENTION_DAYS and GX results older
    than LAKEHOUSE_GX_RESULTS_RETENTION_DAYS (their folders' files and bytes before and after)."""
    from quality.gx_files import prune_results

    retention = settings.vacuum_retention_hours
    reports = housekeep_lake(lake, TABLES.values(), retention_hours=retention, run_id=run_id)
    dagster = TableHousekeeping("(dagster)", now, folder_usage(settings.dagster_home))
    dagster.files_vacuumed = prune_runs(instance, dt.timedelta(days=settings.run_retention_days), now)
    dagster.after = folder_usage(settings.dagster_home)
    gx = TableHousekeeping("(gx)", now, folder_usage(settings.gx_home))
    pruned = prune_results(settings.gx_home, dt.timedelta(days=settings.gx_results_retention_days), now)
    gx.files_vacuumed = pruned.results_removed + pruned.pages_removed
    gx.after = folder_usage(settings.gx_home)
    return HomeHousekeeping(reports, [dagster, gx], retention)
