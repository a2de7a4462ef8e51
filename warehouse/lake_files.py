"""The Lake's files: staging a partition's files and committing them in one transaction, streamed
appends of files written apart, and orphans. A mixin of warehouse.storage.Lake, which holds the reads
and writes; kept apart because it works on files, not rows. The Delta log's reading and housekeeping
(compaction, VACUUM, checkpoints) are the other mixin, warehouse.lake_upkeep."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction

from warehouse.registry import TableSpec

WRITE_BATCH_ROWS = 1 << 20


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


def _stat_columns(schema: pl.Schema) -> list[str]:
    """Columns that get a min and max in Delta statistics (the others only a null count)."""
    return [c for c, t in schema.items() if t.is_numeric() or t.is_temporal() or t == pl.String]


def _stats_json(rows: int, nulls: dict[str, int], lo: dict[str, object], hi: dict[str, object]) -> str:
    """Delta file statistics from each column's null count and (where known) min and max."""
    mins: dict[str, object] = {}
    maxs: dict[str, object] = {}
    for c, low in lo.items():
        if low is None:
            continue
        if isinstance(low, str) and max(len(low), len(hi[c])) > STATS_TEXT_CHARS:  # type: ignore[arg-type]
            continue  # a cut max would be below the true max: leave the column out
        mins[c], maxs[c] = _stat_value(low), _stat_value(hi[c])
    return json.dumps({"numRecords": rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls})


def file_stats(df: pl.DataFrame) -> str:
    """Delta per-file statistics of a frame, so readers skip files by min/max like delta-rs' own writes."""
    stat_cols = _stat_columns(df.schema)
    # one pass over the frame for every column's null count, min and max
    row = df.select(
        pl.all().null_count().name.prefix("n:"),
        pl.col(stat_cols).min().name.prefix("lo:"),
        pl.col(stat_cols).max().name.prefix("hi:"),
    ).row(0, named=True)
    nulls = {c: int(row[f"n:{c}"]) for c in df.columns}
    if not df.height:
        return _stats_json(0, nulls, {}, {})
    lo = {c: row[f"lo:{c}"] for c in stat_cols}
    hi = {c: row[f"hi:{c}"] for c in stat_cols}
    return _stats_json(df.height, nulls, lo, hi)


_FOOTER_STAT_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.Float64)


def footer_stats(path: str, schema: pl.Schema) -> str | None:
    """`file_stats` of a Parquet file the Lake just wrote, from the row groups' statistics in its footer
    (the writer computed them already; a second min/max pass over the frame cost a quarter of a bronze
    or silver write). None where the footer lacks a statistic or a column is of another type: then the
    caller computes them from the frame."""
    meta = pq.read_metadata(path)
    names = [meta.schema.column(i).path for i in range(meta.num_columns)]
    if names != list(schema):
        return None
    stat_cols = set(_stat_columns(schema))
    if any(
        not (
            t in _FOOTER_STAT_TYPES
            or t == pl.String
            or t == pl.Date
            or (isinstance(t, pl.Datetime) and t.time_unit in ("us", "ms"))
        )
        for c, t in schema.items()
        if c in stat_cols
    ):
        return None
    nulls = dict.fromkeys(names, 0)
    lo: dict[str, object] = {}
    hi: dict[str, object] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i, name in enumerate(names):
            st = group.column(i).statistics
            if st is None or not st.has_null_count:
                return None
            nulls[name] += st.null_count
            if name not in stat_cols:
                continue
            if not st.has_min_max:
                if st.null_count != group.num_rows:  # values without a min/max: not known here
                    return None
                continue
            lo[name] = st.min if name not in lo else min(lo[name], st.min)  # type: ignore[type-var]
            hi[name] = st.max if name not in hi else max(hi[name], st.max)  # type: ignore[type-var]
    return _stats_json(meta.num_rows, nulls, lo, hi)


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
            stats = None
        else:
            target = self.path(spec) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            df.write_parquet(target, compression="snappy", statistics=True, row_group_size=row_group_rows)
            stat = target.stat()
            size, mtime_ms = stat.st_size, int(stat.st_mtime * 1000)
            stats = footer_stats(str(target), df.schema)
        return StagedFile(
            table=spec.name,
            path=rel,
            size=size,
            partition_values=((col, value),),
            modification_time=mtime_ms,
            stats=stats or file_stats(df),
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
        return self._commit_files(spec, staged, run_id=run_id, operation=f"append ({len(staged)} files)")

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
        if spec.month_files:
            return self._commit_month_day(spec, partition, files, run_id=run_id)
        col = spec.partition_by
        return self._commit_files(
            spec,
            files,
            run_id=run_id,
            operation=f"commit_partition {col}={partition} ({len(files)} files)",
            replace=_partition_text(partition),
        )

    def _commit_month_day(
        self, spec: TableSpec, partition: object, files: list[StagedFile], *, run_id: str
    ) -> int:
        """A day of a table laid out by month: the staged rows replace the day's in one commit (delta-rs
        rewrites the files that hold the day), then the staged files, which no commit names, are deleted.

        Such tables hold modest rows per day, so reading the staged files back costs little.
        """
        col = spec.partition_by
        day = pl.lit(partition).cast(spec.schema[col]).alias(col)
        frames = [self.read_staged(spec, f).with_columns(day) for f in files]
        rows = (
            conform(spec, pl.concat(frames, how="diagonal_relaxed"))
            if frames
            else spec.conform(pl.DataFrame(schema=spec.schema))
        )
        version = self.replace_partition(spec, partition, rows, run_id=run_id)
        for f in files:
            self._delete_staged(spec, f)
        return version

    def _delete_staged(self, spec: TableSpec, f: StagedFile) -> None:
        if self.remote:
            self._fs().delete_file(self._remote_key(spec, f.path))
            return
        target = self.path(spec) / f.path
        target.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the staging folder, once empty
            target.parent.rmdir()

    def _commit_files(
        self,
        spec: TableSpec,
        files: list[StagedFile],
        *,
        run_id: str,
        operation: str,
        replace: str | None = None,
    ) -> int:
        """One Delta transaction adding `files` (written apart): appended, or replacing the partition
        `replace` (its old files removed in the same commit). Creates the table on first use."""
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
            mode="append" if replace is None else "overwrite",
            schema=schema,
            partition_by=[col],
            partition_filters=None if replace is None else [(col, "=", replace)],
            commit_properties=CommitProperties(
                custom_metadata={"run_id": run_id, "lakehouse.operation": operation, "table": spec.name}
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
