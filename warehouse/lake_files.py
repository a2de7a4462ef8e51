"""The Lake's files: staging a partition's files and committing them in one transaction, orphans,
compaction, VACUUM, checkpoints and the reading of the Delta log. A mixin of warehouse.storage.Lake,
which holds the reads and writes; kept apart because it works on files, not rows."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction

from warehouse.registry import TableSpec

WRITE_BATCH_ROWS = 1 << 20


COMPACT_TARGET_BYTES = 128 << 20  # compaction writes files of about this size


SMALL_FILE_BYTES = 32 << 20  # a partition with two or more files below this is compacted


class SchemaMismatch(ValueError):
    """A frame does not carry the columns its table declares."""


def conform(spec: TableSpec, df: pl.DataFrame) -> pl.DataFrame:
    """Select and cast a frame to the declared schema; missing or extra columns are an error."""
    missing = [c for c in spec.schema if c not in df.columns]
    extra = [c for c in df.columns if c not in spec.schema]
    if missing or extra:
        raise SchemaMismatch(f"{spec.name}: missing columns {missing}, undeclared columns {extra}")
    return df.select([pl.col(n).cast(t) for n, t in spec.schema.items()])


def _literal(value: object) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def _partition_text(value: object) -> str:
    """A partition value as the Delta log spells it (dates ISO 8601)."""
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)


STATS_TEXT_CHARS = 32  # string min/max in file statistics are cut to this many characters


@dataclass(frozen=True)
class StagedFile:
    """A data file written into a table's folder but not yet committed: its Delta `Add` action.

    Plain values only, so a shard built on another machine can hand it back to the committer.
    """

    table: str
    path: str  # relative to the table root
    size: int
    partition_values: tuple[tuple[str, str], ...]
    modification_time: int  # ms since the epoch
    stats: str  # Delta file statistics (JSON): numRecords, minValues, maxValues, nullCount
    rows: int

    def add_action(self) -> AddAction:
        return AddAction(
            self.path, self.size, dict(self.partition_values), self.modification_time, True, self.stats
        )


def file_stats(df: pl.DataFrame) -> str:
    """Delta per-file statistics of a frame, so readers skip files by min/max like delta-rs' own writes."""
    mins: dict[str, object] = {}
    maxs: dict[str, object] = {}
    stat_cols = [c for c, t in df.schema.items() if t.is_numeric() or t.is_temporal() or t == pl.String]
    # one pass over the frame for every column's null count, min and max
    row = df.select(
        pl.all().null_count().name.prefix("n:"),
        pl.col(stat_cols).min().name.prefix("lo:"),
        pl.col(stat_cols).max().name.prefix("hi:"),
    ).row(0, named=True)
    nulls = {c: int(row[f"n:{c}"]) for c in df.columns}
    lo = {c: row[f"lo:{c}"] for c in stat_cols}
    hi = {c: row[f"hi:{c}"] for c in stat_cols}
    if df.height and stat_cols:
        for c in stat_cols:
            if lo[c] is None:
                continue
            if isinstance(lo[c], str) and max(len(lo[c]), len(hi[c])) > STATS_TEXT_CHARS:
                continue  # a cut max would be below the true max: leave the column out
            mins[c], maxs[c] = _stat_value(lo[c]), _stat_value(hi[c])
    return json.dumps({"numRecords": df.height, "minValues": mins, "maxValues": maxs, "nullCount": nulls})


def _stat_value(v: object) -> object:
    if isinstance(v, dt.datetime):
        # Delta stats are UTC with millisecond precision: widen so the range still covers the values
        return v.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:48]


class LakeFiles:
    """File-level operations of a Lake (see warehouse.storage.Lake for root, paths and options)."""

    # ---- partitions built in pieces: stage files, then one commit -----------------------------
    def stage_files(
        self, spec: TableSpec, partition: object, df: pl.DataFrame, *, run_id: str, tag: str
    ) -> list[StagedFile]:
        """Write `df` (rows of one partition) as Parquet files into the partition's folder, uncommitted.

        Nothing is visible to readers until `commit_partition`. An empty frame stages no file.
        """
        if not spec.partition_by:
            raise ValueError(f"{spec.name} is not partitioned")
        col = spec.partition_by
        if df.is_empty():
            return []
        df = conform(spec, df.with_columns(pl.lit(partition).cast(spec.schema[col]).alias(col))).drop(col)
        return [self._stage_file(spec, partition, df, run_id=run_id, tag=tag)]

    def _stage_file(
        self,
        spec: TableSpec,
        partition: object,
        df: pl.DataFrame,
        *,
        run_id: str,
        tag: str,
        row_group_rows: int = WRITE_BATCH_ROWS,
    ) -> StagedFile:
        """One Parquet file of a partition's rows (already conformed, partition column dropped).

        Locally polars writes it (multithreaded, straight from its own buffers: 2-3x faster than the
        Arrow hand-off to delta-rs' or pyarrow's writer on text columns); remotely pyarrow writes it
        through the object store's filesystem.
        """
        col = spec.partition_by
        value = _partition_text(partition)
        rel = f"{col}={value}/part-{_safe(run_id)}-{_safe(tag)}-{uuid.uuid4().hex[:12]}.parquet"
        if self.remote:
            schema = conform(spec, pl.DataFrame(schema=spec.schema)).drop(col).to_arrow().schema
            fs, key = self._fs(), self._remote_key(spec, rel)
            pq.write_table(
                df.to_arrow().cast(schema),
                key,
                filesystem=fs,
                row_group_size=row_group_rows,
                compression="snappy",
                write_statistics=True,
            )
            size, mtime_ms = fs.get_file_info(key).size, int(time.time() * 1000)
        else:
            target = self.path(spec) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            df.write_parquet(target, compression="snappy", statistics=True, row_group_size=row_group_rows)
            stat = target.stat()
            size, mtime_ms = stat.st_size, int(stat.st_mtime * 1000)
        return StagedFile(
            table=spec.name,
            path=rel,
            size=size,
            partition_values=((col, value),),
            modification_time=mtime_ms,
            stats=file_stats(df),
            rows=df.height,
        )

    def append_staged(
        self,
        spec: TableSpec,
        frames: Iterable[pl.DataFrame],
        *,
        run_id: str,
        row_group_rows: int = WRITE_BATCH_ROWS,
    ) -> int | None:
        """Append a stream of frames in ONE commit: each frame's partitions are written as files as the
        frame comes (one frame in memory at a time), then one Delta transaction adds them all.

        Nothing is visible if the stream raises: the files written so far are referenced by no commit
        (housekeeping's VACUUM removes them). No commit if the stream has no rows.
        """
        if not spec.partition_by:
            raise ValueError(f"{spec.name} is not partitioned")
        col = spec.partition_by
        staged: list[StagedFile] = []
        for n, frame in enumerate(frames):
            if frame.is_empty():
                continue
            frame = conform(spec, frame)
            values = frame[col].unique()
            parts = (
                {(values[0],): frame.drop(col)}  # the usual case: a chunk of one partition, not copied
                if values.len() == 1
                else frame.partition_by(col, as_dict=True, include_key=False)
            )
            for (value,), part in parts.items():
                staged.append(
                    self._stage_file(
                        spec, value, part, run_id=run_id, tag=f"a{n}", row_group_rows=row_group_rows
                    )
                )
        if not staged:
            return self.version(spec) if self.exists(spec) else None
        schema = conform(spec, pl.DataFrame(schema=spec.schema)).to_arrow().schema
        if not self.exists(spec):
            DeltaTable.create(
                self.table_uri(spec),
                schema,
                mode="ignore",
                partition_by=[col],
                storage_options=self._options(),
            )
        self.table(spec).create_write_transaction(
            [f.add_action() for f in staged],
            mode="append",
            schema=schema,
            partition_by=[col],
            commit_properties=CommitProperties(
                custom_metadata={
                    "run_id": run_id,
                    "lakehouse.operation": f"append ({len(staged)} files)",
                    "table": spec.name,
                }
            ),
        )
        return self.table(spec).version()

    def commit_partition(
        self, spec: TableSpec, partition: object, staged: Iterable[StagedFile], *, run_id: str
    ) -> int:
        """ONE Delta transaction replacing the partition's files with the staged ones (none: emptied).

        Readers see the old partition or the new one, never a part of it. Re-running with new files
        replaces again, so a rebuilt day converges.
        """
        if not spec.partition_by:
            raise ValueError(f"{spec.name} is not partitioned")
        files = list(staged)
        wrong = [f.path for f in files if f.table != spec.name]
        if wrong:
            raise ValueError(f"{spec.name}: staged files of another table {wrong[:3]}")
        col = spec.partition_by
        schema = conform(spec, pl.DataFrame(schema=spec.schema)).to_arrow().schema
        if not self.exists(spec):
            DeltaTable.create(
                self.table_uri(spec),
                schema,
                mode="ignore",
                partition_by=[col],
                storage_options=self._options(),
            )
        self.table(spec).create_write_transaction(
            [f.add_action() for f in files],
            mode="overwrite",
            schema=schema,
            partition_by=[col],
            partition_filters=[(col, "=", _partition_text(partition))],
            commit_properties=CommitProperties(
                custom_metadata={
                    "run_id": run_id,
                    "lakehouse.operation": f"commit_partition {col}={partition} ({len(files)} files)",
                    "table": spec.name,
                }
            ),
        )
        return self.table(spec).version()

    def remove_orphans(self, spec: TableSpec, partition: object, *, min_age_seconds: float = 0.0) -> int:
        """Delete files in the partition's folder that no commit ever referenced (a crashed build's).

        Files of earlier versions stay (time travel and vacuum's business). Call it only when no other
        build of the same partition is under way: it cannot tell a running build's files from a dead one's.
        """
        if not spec.partition_by or not self.exists(spec):
            return 0
        if self.remote:
            return self._remove_remote_orphans(spec, partition, min_age_seconds)
        folder = self.path(spec) / f"{spec.partition_by}={_partition_text(partition)}"
        if not folder.is_dir():
            return 0
        referenced = self._referenced_paths(spec)
        now, removed = time.time(), 0
        for f in folder.iterdir():
            rel = f"{folder.name}/{f.name}"
            if f.is_file() and rel not in referenced and now - f.stat().st_mtime >= min_age_seconds:
                f.unlink()
                removed += 1
        return removed

    def _remove_remote_orphans(self, spec: TableSpec, partition: object, min_age_seconds: float) -> int:
        from pyarrow.fs import FileSelector, FileType

        fs, folder_rel = self._fs(), f"{spec.partition_by}={_partition_text(partition)}"
        infos = fs.get_file_info(FileSelector(self._remote_key(spec, folder_rel), allow_not_found=True))
        referenced = self._referenced_paths(spec)
        now, removed = time.time(), 0
        for info in infos:
            rel = f"{folder_rel}/{info.base_name}"
            age = now - (info.mtime.timestamp() if info.mtime else now)
            if info.type == FileType.File and rel not in referenced and age >= min_age_seconds:
                fs.delete_file(info.path)
                removed += 1
        return removed

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
        return actions.select(
            pl.col("path").cast(pl.String),
            pl.col("size_bytes").cast(pl.Int64),
            (pl.col(part).cast(pl.String) if spec.partition_by and part in actions.columns else pl.lit(None))
            .cast(pl.String)
            .alias("partition"),
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
