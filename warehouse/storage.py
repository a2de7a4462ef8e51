"""Delta Lake storage: the one place that writes tables.

Every write is a single Delta commit carrying the Dagster run id in its commit metadata, so a write
is atomic (a crash before the commit leaves the previous version readable) and a partition replace
removes exactly that partition's files and adds the new ones in one transaction.

Large partitions are built in pieces (shards, possibly on other machines): each piece writes its own
Parquet files into the table's partition folder (`Lake.stage_files`, returning picklable `StagedFile`s,
i.e. the Delta `Add` actions), and one transaction then replaces the partition with all of them
(`Lake.commit_partition`). Files staged by a build that died before its commit are referenced by no
commit; `Lake.remove_orphans` deletes them (the next build of the partition calls it first).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction

from warehouse.registry import TableSpec

WRITE_BATCH_ROWS = 1 << 20
COMPACT_TARGET_BYTES = 128 << 20  # compaction writes files of about this size
SMALL_FILE_BYTES = 32 << 20  # a partition with two or more files below this is compacted
# Commits that rewrite or delete files without changing a row (housekeeping's).
LAYOUT_OPERATIONS = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


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
    nulls = {c: int(n) for c, n in zip(df.columns, df.null_count().row(0), strict=True)}
    stat_cols = [c for c, t in df.schema.items() if t.is_numeric() or t.is_temporal() or t == pl.String]
    if df.height and stat_cols:
        lo = df.select(pl.col(stat_cols).min()).row(0, named=True)
        hi = df.select(pl.col(stat_cols).max()).row(0, named=True)
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


class Lake:
    """Delta tables under one root, laid out as <root>/<layer>/<table>.

    The root is a local folder, or an object store URI (`s3://bucket/prefix`) with the delta-rs
    `storage_options` (endpoint, keys, `AWS_ALLOW_HTTP`, `conditional_put`) that reach it.
    """

    def __init__(self, root: Path | str, storage_options: dict[str, str] | None = None) -> None:
        text = str(root)
        self.remote = "://" in text and not text.startswith("file://")
        self.root: Path = Path(root) if not self.remote else text.rstrip("/")  # type: ignore[assignment]
        self.storage_options = dict(storage_options or {})

    @property
    def uri(self) -> str:
        """The lake's root as a URI-like string: what a shard on another process or machine is given."""
        return str(self.root)

    def path(self, spec: TableSpec) -> Path:
        if self.remote:
            raise ValueError(f"{spec.name}: the lake at {self.root} is remote and has no local path")
        return spec.path(self.root)

    def table_uri(self, spec: TableSpec) -> str:
        """The table's location as delta-rs, polars and DuckDB take it."""
        if self.remote:
            return f"{self.root}/{spec.layer}/{spec.short_name}"
        return str(self.path(spec))

    @property
    def identity(self) -> str:
        """What names this lake wherever it is read from (a resolved folder, or the URI)."""
        return self.uri if self.remote else str(self.root.resolve())

    def _options(self) -> dict[str, str] | None:
        return self.storage_options or None

    def _fs(self):
        """pyarrow's filesystem for staged files and listings on a remote lake, and the root inside it."""
        from pyarrow import fs

        o = {k.upper(): v for k, v in self.storage_options.items()}
        endpoint = o.get("AWS_ENDPOINT_URL", "")
        scheme, _, host = endpoint.partition("://") if endpoint else ("https", "", "")
        return fs.S3FileSystem(
            access_key=o.get("AWS_ACCESS_KEY_ID"),
            secret_key=o.get("AWS_SECRET_ACCESS_KEY"),
            region=o.get("AWS_REGION", "us-east-1"),
            endpoint_override=host or None,
            scheme=scheme,
        )

    def _remote_key(self, spec: TableSpec, rel: str = "") -> str:
        key = self.table_uri(spec).split("://", 1)[1]
        return f"{key}/{rel}" if rel else key

    def exists(self, spec: TableSpec) -> bool:
        if self.remote:
            return DeltaTable.is_deltatable(self.table_uri(spec), storage_options=self._options())
        return (self.path(spec) / "_delta_log").is_dir()

    def table(self, spec: TableSpec) -> DeltaTable:
        return DeltaTable(self.table_uri(spec), storage_options=self._options())

    def version(self, spec: TableSpec) -> int | None:
        try:
            return self.table(spec).version()
        except TableNotFoundError:
            return None

    # ---- reads -------------------------------------------------------------------------------
    def read(
        self,
        spec: TableSpec,
        *,
        partition: object | None = None,
        where: pl.Expr | None = None,
        columns: list[str] | None = None,
    ) -> pl.DataFrame:
        """The table (or one partition) as a polars frame; an absent table reads as empty.

        Through polars' Delta scan: partition values and the per-file statistics of the Delta log skip
        files, and only the filtered rows are materialized (several times faster than a pyarrow dataset).
        """
        if not self.exists(spec):
            empty = pl.DataFrame(schema=spec.schema)
            return empty.select(columns) if columns else empty
        scan = pl.scan_delta(self.table_uri(spec), storage_options=self._options())
        if partition is not None:
            scan = scan.filter(
                pl.col(spec.partition_by) == pl.lit(partition).cast(spec.schema[spec.partition_by])
            )
        if where is not None:
            scan = scan.filter(where)
        if columns:
            scan = scan.select(columns)
        return scan.collect()

    def partitions(self, spec: TableSpec) -> list[str]:
        """Partition values present in the current version."""
        if not self.exists(spec) or not spec.partition_by:
            return []
        values = {p[spec.partition_by] for p in self.table(spec).partitions()}
        return sorted(v for v in values if v is not None)

    # ---- writes ------------------------------------------------------------------------------
    def _write(
        self,
        spec: TableSpec,
        df: pl.DataFrame | Iterable[pl.DataFrame],
        *,
        run_id: str,
        mode: str,
        predicate: str | None = None,
        operation: str,
        row_group_rows: int | None = None,
    ) -> int:
        """One commit of a frame, or of a stream of frames (each conformed and handed over as it comes)."""
        frames = [df] if isinstance(df, pl.DataFrame) else df
        schema = conform(spec, pl.DataFrame(schema=spec.schema)).to_arrow().schema

        def batches() -> Iterator[pa.RecordBatch]:
            for frame in frames:
                # in 1M-row batches: one giant batch costs delta-rs several times the time and memory
                yield from (
                    conform(spec, frame).to_arrow().cast(schema).to_batches(max_chunksize=WRITE_BATCH_ROWS)
                )

        write_deltalake(
            self.table_uri(spec),
            pa.RecordBatchReader.from_batches(schema, batches()),
            mode=mode,  # type: ignore[arg-type]
            predicate=predicate,
            partition_by=[spec.partition_by] if spec.partition_by else None,
            schema_mode="merge",  # a column added to the registry is added to the table (additive only)
            writer_properties=WriterProperties(max_row_group_size=row_group_rows) if row_group_rows else None,
            commit_properties=CommitProperties(
                custom_metadata={"run_id": run_id, "lakehouse.operation": operation, "table": spec.name}
            ),
            storage_options=self._options(),
        )
        return self.table(spec).version()

    def replace_partition(self, spec: TableSpec, partition: object, df: pl.DataFrame, *, run_id: str) -> int:
        """Atomically replace one partition's content with `df` (an empty frame empties it)."""
        if not spec.partition_by:
            raise ValueError(f"{spec.name} is not partitioned")
        col = spec.partition_by
        df = df.with_columns(pl.lit(partition).cast(spec.schema[col]).alias(col)) if df.height else df
        wrong = df.filter(pl.col(col) != pl.lit(partition).cast(spec.schema[col])).height
        if wrong:
            raise ValueError(f"{spec.name}: {wrong} rows outside partition {col}={partition}")
        return self._write(
            spec,
            df,
            run_id=run_id,
            mode="overwrite",
            predicate=f"{col} = {_literal(partition)}",
            operation=f"replace_partition {col}={partition}",
        )

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
        value = _partition_text(partition)
        rel = f"{col}={value}/part-{_safe(run_id)}-{_safe(tag)}-{uuid.uuid4().hex[:12]}.parquet"
        schema = conform(spec, pl.DataFrame(schema=spec.schema)).drop(col).to_arrow().schema
        options = {"row_group_size": WRITE_BATCH_ROWS, "compression": "snappy", "write_statistics": True}
        if self.remote:
            fs, key = self._fs(), self._remote_key(spec, rel)
            pq.write_table(df.to_arrow().cast(schema), key, filesystem=fs, **options)
            size, mtime_ms = fs.get_file_info(key).size, int(time.time() * 1000)
        else:
            target = self.path(spec) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(df.to_arrow().cast(schema), target, **options)
            stat = target.stat()
            size, mtime_ms = stat.st_size, int(stat.st_mtime * 1000)
        return [
            StagedFile(
                table=spec.name,
                path=rel,
                size=size,
                partition_values=((col, value),),
                modification_time=mtime_ms,
                stats=file_stats(df),
                rows=df.height,
            )
        ]

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

    def append(self, spec: TableSpec, df: pl.DataFrame, *, run_id: str) -> int | None:
        if df.is_empty() and self.exists(spec):
            return self.version(spec)
        return self._write(spec, df, run_id=run_id, mode="append", operation="append")

    def append_stream(
        self,
        spec: TableSpec,
        frames: Iterable[pl.DataFrame],
        *,
        run_id: str,
        row_group_rows: int | None = None,
    ) -> int | None:
        """Append frames produced one after another in ONE commit, holding one frame at a time.

        Nothing is committed if the stream raises or yields no rows. `row_group_rows` caps Parquet row
        groups (smaller groups let readers skip more by their statistics).
        """
        stream = (f for f in frames if f.height)
        first = next(stream, None)
        if first is None:
            return self.version(spec)
        return self._write(
            spec,
            itertools.chain([first], stream),
            run_id=run_id,
            mode="append",
            operation="append",
            row_group_rows=row_group_rows,
        )

    def overwrite(self, spec: TableSpec, df: pl.DataFrame, *, run_id: str) -> int:
        """Replace the whole table in one commit (small reference tables); no commit if nothing changed."""
        if self.exists(spec):
            key = list(spec.key) or list(spec.schema)
            current = self.read(spec)
            if set(spec.schema) <= set(current.columns) and current.sort(key).equals(
                conform(spec, df).sort(key)
            ):
                return self.table(spec).version()
        return self._write(spec, df, run_id=run_id, mode="overwrite", operation="overwrite")

    def upsert(self, spec: TableSpec, df: pl.DataFrame, *, run_id: str) -> int:
        """MERGE on the declared key: update matching rows, insert the rest (one commit).

        The source must hold one row per key: a duplicate is a caller's bug and raises, not a silent pick.
        Rows that differ from the stored ones only in the spec's `record_columns` are dropped first; if
        none is left there is no commit.
        """
        dupes = df.height - df.select(spec.key).n_unique() if df.height else 0
        if dupes:
            raise ValueError(f"{spec.name}: upsert source has {dupes} duplicate key rows on {spec.key}")
        if not self.exists(spec):
            return self._write(spec, df, run_id=run_id, mode="append", operation="upsert")
        if spec.record_columns:
            df = self._changed_rows(spec, df)
            if df.is_empty():
                return self.table(spec).version()
        data = conform(spec, df).to_arrow()
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        (
            self.table(spec)
            .merge(
                data,
                predicate=predicate,
                source_alias="s",
                target_alias="t",
                merge_schema=True,  # a column added to the registry is added to the table (additive only)
                commit_properties=CommitProperties(
                    custom_metadata={"run_id": run_id, "lakehouse.operation": "upsert", "table": spec.name}
                ),
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
        return self.table(spec).version()

    def _changed_rows(self, spec: TableSpec, df: pl.DataFrame) -> pl.DataFrame:
        """The rows of `df` whose content (every column but the record columns) is not stored as it is."""
        content = [c for c in spec.schema.names() if c not in spec.record_columns]
        new = conform(spec, df)
        old = self.read(spec, columns=content).select([pl.col(c).cast(spec.schema[c]) for c in content])
        digest = pl.concat([new.select(content), old]).hash_rows()  # one frame: one hash seed
        stored = digest.slice(new.height)
        return new.filter(~digest.slice(0, new.height).is_in(stored.implode()))

    def scd2_merge(
        self,
        spec: TableSpec,
        state: pl.DataFrame,
        *,
        as_of: dt.date,
        run_id: str,
        key: str = "uscc",
        hash_col: str = "row_hash",
    ) -> dict:
        """Slowly changing dimension type 2: apply the state of the world `as_of` in one Delta MERGE.

        `state` holds one row per `key` (without valid_from/valid_to). A key whose current row has the
        same `hash_col` is left alone; a changed key's current row is closed (valid_to = as_of) and a
        new version inserted (valid_from = as_of, valid_to null); a new key is inserted. A change on
        the very day of the current version (a corrected re-delivery) replaces that version in place.
        Keys missing from `state` stay as they are (an export may be partial). Nothing changed, no
        commit: re-running the same inputs leaves the Delta version where it was.
        """
        dupes = state.height - state[key].n_unique()
        if dupes:
            raise ValueError(f"{spec.name}: scd2 state has {dupes} duplicate {key} rows")
        incoming = state.with_columns(valid_from=pl.lit(as_of, pl.Date), valid_to=pl.lit(None, pl.Date))
        incoming = conform(spec, incoming)
        current = self.read(spec).filter(pl.col("valid_to").is_null()).select(key, "valid_from", hash_col)
        joined = incoming.join(current, on=key, how="left", suffix="_cur")
        new = joined.filter(pl.col("valid_from_cur").is_null())
        changed = joined.filter(
            pl.col("valid_from_cur").is_not_null() & (pl.col(hash_col) != pl.col(f"{hash_col}_cur"))
        )
        same_day = changed.filter(pl.col("valid_from_cur") == pl.lit(as_of))
        later = changed.filter(pl.col("valid_from_cur") < pl.lit(as_of))
        stats = {
            "inserted": new.height,
            "closed": later.height,
            "replaced": same_day.height,
            "version": self.version(spec),
        }
        if new.is_empty() and changed.is_empty():
            return stats
        cols = list(spec.schema)
        closing = (
            later.select(key, pl.col("valid_from_cur").alias("valid_from"))
            .join(self.read(spec).filter(pl.col("valid_to").is_null()), on=[key, "valid_from"], how="inner")
            .with_columns(valid_to=pl.lit(as_of, pl.Date))
            .select(cols)
        )
        source = pl.concat(
            [
                closing.with_columns(_op=pl.lit("close")),
                same_day.select(cols).with_columns(_op=pl.lit("replace")),
                pl.concat([new.select(cols), later.select(cols)]).with_columns(_op=pl.lit("insert")),
            ]
        )
        if not self.exists(spec):
            self._write(
                spec, source.drop("_op"), run_id=run_id, mode="append", operation=f"scd2 as_of={as_of}"
            )
            stats["version"] = self.version(spec)
            return stats
        data = conform(spec, source.drop("_op")).with_columns(source["_op"]).to_arrow()
        (
            self.table(spec)
            .merge(
                data,
                predicate=f"t.{key} = s.{key} AND t.valid_from = s.valid_from",
                source_alias="s",
                target_alias="t",
                commit_properties=CommitProperties(
                    custom_metadata={
                        "run_id": run_id,
                        "lakehouse.operation": f"scd2 as_of={as_of}",
                        "table": spec.name,
                    }
                ),
            )
            .when_matched_update(updates={"valid_to": "s.valid_to"}, predicate="s._op = 'close'")
            .when_matched_update(updates={c: f"s.{c}" for c in cols}, predicate="s._op = 'replace'")
            .when_not_matched_insert(updates={c: f"s.{c}" for c in cols}, predicate="s._op = 'insert'")
            .execute()
        )
        stats["version"] = self.table(spec).version()
        return stats

    def as_of(self, spec: TableSpec, day: dt.date) -> pl.DataFrame:
        """An SCD2 table's versions valid on `day` (valid_from <= day < valid_to)."""
        return self.read(spec).filter(
            (pl.col("valid_from") <= day) & (pl.col("valid_to").is_null() | (pl.col("valid_to") > day))
        )

    def last_commit(self, spec: TableSpec) -> dict:
        return self.table(spec).history(1)[0]

    # ---- maintenance: compaction, VACUUM, checkpoints (the nightly housekeeping) ---------------
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
        return any(h.get("operation") not in LAYOUT_OPERATIONS for h in history)

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
