"""The Lake's upkeep: reading the Delta log (versions, commits, live and referenced files, disk use)
and housekeeping (compaction, VACUUM, checkpoints). A mixin of warehouse.storage.Lake, beside
warehouse.lake_files (staging and committing files)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties

from warehouse.lake_files import StagedFile, _partition_text
from warehouse.registry import TableSpec

COMPACT_TARGET_BYTES = 128 << 20  # compaction writes files of about this size


SMALL_FILE_BYTES = 32 << 20  # a partition with two or more files below this is compacted

# Commits that rewrite or delete files without changing a row (housekeeping's).
LAYOUT_OPERATIONS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


def is_layout_commit(commit: dict) -> bool:
    """A commit that moved rows between files and changed none (delta-rs' OPTIMIZE and VACUUM, or the
    month compaction of `LakeUpkeep._compact_months`): a commit dict of `DeltaTable.history()` or the
    commitInfo of a log entry."""
    op = str(commit.get("lakehouse.operation") or "")
    return commit.get("operation") in LAYOUT_OPERATIONS or op.startswith("compact ")


class LakeUpkeep:
    """Log reading and housekeeping of a Lake (see warehouse.storage.Lake for root, paths and options)."""

    def partition_writer(self, spec: TableSpec, partition: object) -> dict | None:
        """The run whose commit last replaced the partition (`commit_partition` / `replace_partition`):
        {"run_id", "at", "version"} from the Delta log, or None when the log holds no such commit (never
        written, or its entry expired). The log says so even when that run died right after the commit."""
        if not self.exists(spec) or _partition_text(partition) not in self.partitions(spec):
            return None  # nothing there now: no run wrote what a reader would see (a whole-table write too)
        col = spec.partition_by
        for h in self.table(spec).history():  # newest first
            op = h.get("lakehouse.operation") or ""
            if (
                op.startswith(f"commit_partition {col}={partition} ")
                or op == f"replace_partition {col}={partition}"
                or op == "overwrite"  # the whole table, this partition too
            ):
                at = dt.datetime.fromtimestamp(h["timestamp"] / 1000, dt.UTC)
                return {"run_id": h.get("run_id"), "at": at, "version": h.get("version")}
        return None

    def data_changed(self, spec: TableSpec, since: int) -> bool:
        """Whether any commit after version `since` changed rows (not only compaction or VACUUM).

        True when the history does not reach back to `since` (log entries expired) or `since` is ahead.
        """
        current = self.version(spec)
        if current is None or current == since:
            return current != since
        if current < since:
            return True
        history = self.table(spec).history(current - since)
        if len(history) < current - since:
            return True
        return any(not is_layout_commit(h) for h in history)

    def log_version(self, spec: TableSpec) -> int | None:
        """The latest committed version, from the log's file names only (no log parsed; cheap)."""
        if self.remote:
            from pyarrow.fs import FileSelector

            infos = self._fs().get_file_info(
                FileSelector(self._remote_key(spec, "_delta_log"), allow_not_found=True)
            )
            names = [i.base_name for i in infos]
        else:
            try:
                names = os.listdir(self.path(spec) / "_delta_log")
            except FileNotFoundError:
                return None
        versions = [int(n[:20]) for n in names if n.endswith(".json") and len(n) == 25 and n[:20].isdigit()]
        return max(versions) if versions else None

    def log_commit(self, spec: TableSpec, version: int) -> str | None:
        """The JSON text of one commit of the table's log; None when it is gone (log cleanup)."""
        name = f"_delta_log/{version:020d}.json"
        if not self.remote:
            try:
                return (self.path(spec) / name).read_text(encoding="utf-8")
            except FileNotFoundError:
                return None
        fs = self._fs()
        try:
            with fs.open_input_stream(self._remote_key(spec, name)) as f:
                return f.read().decode("utf-8")
        except FileNotFoundError:
            return None

    def read_staged(self, spec: TableSpec, f: StagedFile) -> pl.DataFrame:
        """One staged (possibly uncommitted) file's rows, partition column not included."""
        if self.remote:
            return pl.from_arrow(pq.read_table(self._remote_key(spec, f.path), filesystem=self._fs()))
        return pl.read_parquet(self.path(spec) / f.path)

    def _log_texts(self, spec: TableSpec) -> Iterator[str]:
        """The JSON commit files of the table's log (those not yet removed by log cleanup)."""
        if not self.remote:
            for log in (self.path(spec) / "_delta_log").glob("*.json"):
                yield log.read_text(encoding="utf-8")
            return
        from pyarrow.fs import FileSelector

        fs = self._fs()
        for info in fs.get_file_info(FileSelector(self._remote_key(spec, "_delta_log"))):
            if info.base_name.endswith(".json"):
                with fs.open_input_stream(info.path) as f:
                    yield f.read().decode("utf-8")

    def _referenced_paths(self, spec: TableSpec) -> set[str]:
        """Every data file path an `add` of the table's log (commits since the last checkpoint, plus the
        current files) ever named."""
        from urllib.parse import unquote

        refs = {unquote(p) for p in self.table(spec).file_uris()}
        root = self.table_uri(spec) if self.remote else str(self.path(spec).resolve())
        refs = {p[len(root) + 1 :] if p.startswith(root) else p for p in refs}
        for text in self._log_texts(spec):
            for line in text.splitlines():
                if '"add"' in line or '"remove"' in line:
                    action = json.loads(line)
                    entry = action.get("add") or action.get("remove")
                    if entry:
                        refs.add(unquote(entry["path"]))
        return refs

    def live_files(self, spec: TableSpec) -> pl.DataFrame:
        """The current version's data files: path, size_bytes and the partition value (text) if any."""
        schema = {"path": pl.String, "size_bytes": pl.Int64, "partition": pl.String}
        if not self.exists(spec):
            return pl.DataFrame(schema=schema)
        actions = pl.from_arrow(pa.table(self.table(spec).get_add_actions(flatten=True)))
        part = f"partition.{spec.partition_by}"
        if spec.month_files:  # the month of the file's first day (a build's file holds one day)
            first = f"min.{spec.partition_by}"
            part_of = (
                pl.col(first).cast(pl.Date).dt.strftime("%Y-%m") if first in actions.columns else pl.lit(None)
            )
        elif spec.partition_by and part in actions.columns:
            part_of = pl.col(part).cast(pl.String)
        else:
            part_of = pl.lit(None)
        return actions.select(
            pl.col("path").cast(pl.String),
            pl.col("size_bytes").cast(pl.Int64),
            part_of.cast(pl.String).alias("partition"),
        )

    def disk_usage(self, spec: TableSpec) -> tuple[int, int]:
        """(files, bytes) of the data files in the table's folder: every version's, and orphans (no log)."""
        if not self.exists(spec):
            return 0, 0
        if self.remote:
            from pyarrow.fs import FileSelector, FileType

            infos = self._fs().get_file_info(FileSelector(self._remote_key(spec), recursive=True))
            sizes = [
                i.size
                for i in infos
                if i.type == FileType.File
                and "/_delta_log/" not in i.path
                and i.base_name.endswith(".parquet")
            ]
        else:
            root = self.path(spec)
            sizes = [
                f.stat().st_size
                for f in root.rglob("*.parquet")
                if "_delta_log" not in f.relative_to(root).parts and f.is_file()
            ]
        return len(sizes), int(sum(sizes))

    def small_file_partitions(self, spec: TableSpec, small_bytes: int = SMALL_FILE_BYTES) -> list[str | None]:
        """Partitions (text values; [None] for an unpartitioned table) holding two or more small files.

        After a compaction a partition holds files of the target size and at most one small one, so it
        is not picked again until new small files land in it: compaction is idempotent, night after night.
        """
        files = self.live_files(spec).filter(pl.col("size_bytes") < small_bytes)
        crowded = files.group_by("partition").len().filter(pl.col("len") >= 2)
        return sorted(crowded["partition"].to_list(), key=lambda v: (v is None, v or ""))

    def compact(
        self,
        spec: TableSpec,
        partitions: Iterable[str | None],
        *,
        run_id: str,
        cluster_by: Iterable[str] = (),
        target_bytes: int = COMPACT_TARGET_BYTES,
    ) -> dict:
        """Rewrite the small files of these partitions into files of about `target_bytes` (OPTIMIZE).

        With `cluster_by`, the rows are Z-ordered by those columns as they are rewritten (readers skip
        row groups by their statistics). One commit per call; the files it replaces stay on disk for
        readers of earlier versions until VACUUM. The data is unchanged (the commit's adds carry
        dataChange = false). A concurrent commit to the same files makes it fail, nothing changed.
        """
        values = [v for v in partitions if v is not None]
        if spec.month_files:
            return self._compact_months(spec, values, run_id=run_id, cluster_by=cluster_by)
        filters = [(spec.partition_by, "in", values)] if spec.partition_by and values else None
        if spec.partition_by and not values:
            return {"numFilesAdded": 0, "numFilesRemoved": 0, "partitionsOptimized": 0}
        props = CommitProperties(
            custom_metadata={"run_id": run_id, "lakehouse.operation": "compact", "table": spec.name}
        )
        optimizer = self.table(spec).optimize
        columns = [c for c in cluster_by if c != spec.partition_by]
        if columns:
            return optimizer.z_order(
                columns, partition_filters=filters, target_size=target_bytes, commit_properties=props
            )
        return optimizer.compact(partition_filters=filters, target_size=target_bytes, commit_properties=props)

    def _compact_months(
        self, spec: TableSpec, months: list[str], *, run_id: str, cluster_by: Iterable[str]
    ) -> dict:
        """A table laid out by month: each month's files merged into one, rows ordered by day and then the
        `cluster_by` columns, in one commit per month that replaces the month's rows with themselves.

        Rows do not change (its log says `compact`, so refreshes copy nothing). A concurrent build of a
        day in that month makes it fail, nothing changed; the next night tries again.
        """
        col = spec.partition_by
        order = [col, *(c for c in cluster_by if c != col)]
        live = self.live_files(spec)
        added = removed = 0
        for month in months:
            first = dt.date.fromisoformat(f"{month}-01")
            after = (first + dt.timedelta(days=32)).replace(day=1)
            rows = self.read(spec, where=(pl.col(col) >= first) & (pl.col(col) < after))
            self._write(
                spec,
                rows.sort(order),
                run_id=run_id,
                mode="overwrite",
                predicate=f"{col} >= '{first.isoformat()}' AND {col} < '{after.isoformat()}'",
                operation=f"compact {col} month={month}",
            )
            added += 1
            removed += live.filter(pl.col("partition") == month).height
        return {"numFilesAdded": added, "numFilesRemoved": removed, "partitionsOptimized": len(months)}

    def vacuum(self, spec: TableSpec, *, retention_hours: float, run_id: str) -> list[str]:
        """Delete data files no version within `retention_hours` needs: files of earlier versions removed
        longer ago than that, and files no commit references whose age exceeds it (a running build's
        staged files are younger). Time travel to any version of the retention window keeps working.

        The retention is the platform's setting (LAKEHOUSE_VACUUM_RETENTION_HOURS), so the table
        property's minimum is not enforced on top of it. Nothing to delete: no commit.
        """
        if not self.exists(spec):
            return []
        table = self.table(spec)
        kwargs = {
            "retention_hours": int(retention_hours),
            "enforce_retention_duration": False,
            "full": True,
        }
        # the candidates include tombstones of files an earlier VACUUM already deleted: only present ones count
        present = [p for p in table.vacuum(dry_run=True, **kwargs) if self._file_present(spec, p)]
        if not present:
            return []
        table.vacuum(
            dry_run=False,
            commit_properties=CommitProperties(
                custom_metadata={"run_id": run_id, "lakehouse.operation": "vacuum", "table": spec.name}
            ),
            **kwargs,
        )
        return present

    def _file_present(self, spec: TableSpec, rel: str) -> bool:
        from urllib.parse import unquote

        if self.remote:
            from pyarrow.fs import FileType

            return self._fs().get_file_info(self._remote_key(spec, unquote(rel))).type == FileType.File
        return (self.path(spec) / unquote(rel)).is_file()

    def checkpoint(self, spec: TableSpec) -> tuple[int | None, int]:
        """Checkpoint the current version (readers replay one Parquet file, not every JSON commit), then
        remove the log files older than the table's log retention (delta.logRetentionDuration, 30 days).

        Returns (the checkpointed version, log files removed); no new checkpoint if it is current.
        """
        if not self.exists(spec):
            return None, 0
        table = self.table(spec)
        version = table.version()
        if self._last_checkpoint(spec) != version:
            table.create_checkpoint()
        before = self._log_file_count(spec)
        table.cleanup_metadata()
        return version, before - self._log_file_count(spec)

    def _log_file_count(self, spec: TableSpec) -> int:
        if self.remote:
            from pyarrow.fs import FileSelector

            return len(self._fs().get_file_info(FileSelector(self._remote_key(spec, "_delta_log"))))
        return sum(1 for _ in (self.path(spec) / "_delta_log").iterdir())

    def _last_checkpoint(self, spec: TableSpec) -> int | None:
        try:
            if self.remote:
                fs = self._fs()
                with fs.open_input_stream(self._remote_key(spec, "_delta_log/_last_checkpoint")) as f:
                    text = f.read().decode("utf-8")
            else:
                text = (self.path(spec) / "_delta_log" / "_last_checkpoint").read_text(encoding="utf-8")
            return int(json.loads(text)["version"])
        except (FileNotFoundError, OSError, KeyError, ValueError):
            return None
