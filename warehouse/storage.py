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
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random

from warehouse.lake_files import (  # noqa: F401
    WRITE_BATCH_ROWS,
    LakeFiles,
    SchemaMismatch,
    StagedFile,
    _literal,
    _partition_text,
    _safe,
    conform,
    file_stats,
)
from warehouse.lake_upkeep import COMPACT_TARGET_BYTES, SMALL_FILE_BYTES, LakeUpkeep  # noqa: F401
from warehouse.registry import TableSpec

COMMIT_ATTEMPTS = 5  # a month-file replace that lost a commit race is done again, up to this many times


def retry_conflicts(write: Callable[[], int]) -> int:
    """A whole replace run again when a concurrent commit touched the same files (a few tries)."""
    return retry(
        retry=retry_if_exception_type(CommitFailedError),
        stop=stop_after_attempt(COMMIT_ATTEMPTS),
        wait=wait_random(0.05, 0.5),
        reraise=True,
    )(write)()


class Lake(LakeFiles, LakeUpkeep):
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
        if spec.month_files:  # no Delta partitions: the days the rows hold
            days = self.read(spec, columns=[spec.partition_by])[spec.partition_by].unique()
            return sorted(_partition_text(d) for d in days.drop_nulls())
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
            partition_by=[spec.delta_partition] if spec.delta_partition else None,
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
        write = functools.partial(
            self._write,
            spec,
            df,
            run_id=run_id,
            mode="overwrite",
            predicate=f"{col} = {_literal(partition)}",
            operation=f"replace_partition {col}={partition}",
        )
        if not spec.month_files:
            return write()
        self.ensure_layout(spec, run_id=run_id)
        # another day of the same month file committed first (or housekeeping merged the month): the
        # replace is whole, so doing it again on the new version is the same replace
        return retry_conflicts(write)

    def ensure_layout(self, spec: TableSpec, *, run_id: str) -> bool:
        """Rewrite a table whose Delta partitioning is not the declared one (a table laid out by day before
        its spec said `month_files`, or back), rows unchanged, in one commit. True if it rewrote."""
        if not self.exists(spec):
            return False
        want = [spec.delta_partition] if spec.delta_partition else []
        if list(self.table(spec).metadata().partition_columns) == want:
            return False
        rows = conform(spec, self.read(spec))
        write_deltalake(
            self.table_uri(spec),
            rows.to_arrow(),
            mode="overwrite",
            schema_mode="overwrite",
            partition_by=want,  # [] unpartitions (None would keep the stored partitioning)
            commit_properties=CommitProperties(
                custom_metadata={"run_id": run_id, "lakehouse.operation": "relayout", "table": spec.name}
            ),
            storage_options=self._options(),
        )
        return True

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
        groups (smaller groups let readers skip more by their statistics). A partitioned table whose
        stored schema is the declared one gets its files written by `append_staged`; otherwise delta-rs
        writes them (and adds a newly declared column to the table).
        """
        stream = (f for f in frames if f.height)
        first = next(stream, None)
        if first is None:
            return self.version(spec)
        frames = itertools.chain([first], stream)
        if spec.delta_partition and self._schema_is_declared(spec):
            return self.append_staged(
                spec, frames, run_id=run_id, row_group_rows=row_group_rows or WRITE_BATCH_ROWS
            )
        return self._write(
            spec, frames, run_id=run_id, mode="append", operation="append", row_group_rows=row_group_rows
        )

    def _schema_is_declared(self, spec: TableSpec) -> bool:
        """True if the table is new or holds exactly the declared columns (no migration pending)."""
        return not self.exists(spec) or self.table(spec).schema().to_arrow().names == list(spec.schema)

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
