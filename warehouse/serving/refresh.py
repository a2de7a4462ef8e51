"""Refreshing the role files: plan what changed in the lake, build each new file beside the live one,
then rename it over the live one (open sessions keep their snapshot). Writers serialize on
`<warehouse>.lock` (fcntl), never on a database file; a refresh with nothing to do opens no extension
and writes nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl

from warehouse.access import ANALYST, ROLES, Role, role_database
from warehouse.durable import fsync_path
from warehouse.registry import TABLES, TableSpec
from warehouse.serving import state
from warehouse.serving.contents import MARTS, Mart
from warehouse.serving.delta import delta_source, load_lake_extensions, quote
from warehouse.serving.plan import Plan, Since, delta_version, plan
from warehouse.settings import settings
from warehouse.storage import Lake


def refresh_role_views(warehouse_db: Path, lake: Lake, tables: dict[str, TableSpec] = TABLES) -> list[str]:
    """Every role's database (see warehouse.access): the analysts' warehouse.duckdb and the stewards'.

    Returns "role:table" for every table or mart rebuilt; a refresh with nothing to do opens no extension
    and writes nothing.
    """
    dbs = {role: role_database(warehouse_db, role) for role in ROLES.values()}
    built = _refresh(dbs, lake, tables, MARTS, lock=warehouse_db)
    return [f"{role.name}:{name}" for role, names in built.items() for name in names]


def refresh_views(
    db_path: Path,
    lake: Lake,
    tables: dict[str, TableSpec] = TABLES,
    role: Role = ANALYST,
    *,
    window_days: int | None = None,
    today: dt.date | None = None,
) -> list[str]:
    """One role's database without marts (tests, tools); returns the tables rebuilt. The window of the
    per-reading tables is LAKEHOUSE_SERVE_READINGS_DAYS unless given."""
    dbs = {role: Path(db_path)}
    return _refresh(dbs, lake, tables, (), lock=Path(db_path), window_days=window_days, today=today)[role]


def _refresh(
    dbs: dict[Role, Path],
    lake: Lake,
    tables: dict[str, TableSpec],
    marts: tuple[Mart, ...],
    *,
    lock: Path,
    window_days: int | None = None,
    today: dt.date | None = None,
) -> dict[Role, list[str]]:
    window = settings().serve_readings_days if window_days is None else window_days
    with _writer_lock(lock):
        versions = {name: delta_version(lake, spec) for name, spec in tables.items()}
        plans = [
            plan(role, db, lake, tables, marts, versions, window_days=window, today=today)
            for role, db in dbs.items()
        ]
        todo = [p for p in plans if not p.empty()]
        if todo:
            _build(todo, lake)
        return {p.role: p.names() for p in plans}


@contextlib.contextmanager
def _writer_lock(db: Path) -> Iterator[None]:
    """Refreshes of one warehouse, from any process, one at a time (readers never take it)."""
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build(plans: list[Plan], lake: Lake) -> None:
    """Build each role's new file beside the live one, then rename it over the live one."""
    con = duckdb.connect(":memory:")
    try:
        load_lake_extensions(con, lake)
        for i, todo in enumerate(plans):
            for stale in todo.db.parent.glob(f"{todo.db.name}.*.building*"):
                stale.unlink(missing_ok=True)  # a crashed refresh's leftovers (we hold the writer lock)
            tmp = todo.db.with_name(f"{todo.db.name}.{os.getpid()}.building")
            if todo.from_live:
                shutil.copyfile(todo.db, tmp)
            alias = f"build_{i}"
            con.execute(f"ATTACH {quote(str(tmp))} AS {alias}")
            try:
                con.execute(f"USE {alias}")
                _apply(con, todo, lake)
                con.execute("USE memory")
                con.execute(f"CHECKPOINT {alias}")
            finally:
                con.execute("USE memory")
                con.execute(f"DETACH {alias}")
            if Path(f"{tmp}.wal").exists():
                raise RuntimeError(f"{tmp}: write-ahead log left after checkpoint; not replacing {todo.db}")
            _publish(tmp, todo.db)
    finally:
        con.close()


def _apply(con: duckdb.DuckDBPyConnection, todo: Plan, lake: Lake) -> None:
    state.stamp(con, todo.role.name, lake)
    for name in todo.drop + todo.drop_marts:
        state.forget(con, name)
    for spec, select, fp, version, since in todo.full:
        source = delta_source(lake, spec, version)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.layer}")
        _execute_padded(
            con,
            f"CREATE OR REPLACE TABLE {spec.name} AS SELECT {select} FROM {{source}}{_from_day(spec, since)}",
            lake,
            spec,
            source,
        )
        con.execute(f"COMMENT ON TABLE {spec.name} IS {quote(spec.description)}")
        state.record_table(con, spec.name, fp, version)
    for spec, fp, version, since in todo.trim:
        con.execute(f'DELETE FROM {spec.name} WHERE "{spec.partition_by}" < DATE {quote(since.isoformat())}')
        state.record_table(con, spec.name, fp, version)
    for spec, select, fp, version, parts, since in todo.partial:
        schema, table = spec.name.split(".", 1)
        (dtype,) = con.execute(
            "SELECT data_type FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ? AND column_name = ?",
            [schema, table, spec.partition_by],
        ).fetchone()
        col = f'"{spec.partition_by}"'
        values = [f"CAST({quote(str(v))} AS {dtype})" for v in parts if v is not None]
        conds = ([f"{col} IN ({', '.join(values)})"] if values else []) + (
            [f"{col} IS NULL"] if None in parts else []
        )
        where = " OR ".join(conds) or "false"
        source = delta_source(lake, spec, version)
        gone = where if since is None else f"({where}) OR {col} < DATE {quote(since.isoformat())}"
        con.execute(f"DELETE FROM {spec.name} WHERE {gone}")  # the changed days, and those the window left
        _execute_padded(
            con,
            f"INSERT INTO {spec.name} BY NAME SELECT {select} FROM {{source}} WHERE {where}",
            lake,
            spec,
            source,
        )
        state.record_table(con, spec.name, fp, version)
    for mart, version in todo.marts:
        con.execute("CREATE SCHEMA IF NOT EXISTS mart")
        con.execute(f"CREATE OR REPLACE TABLE {mart.name} AS {mart.sql.format(source=mart.source.name)}")
        con.execute(f"COMMENT ON TABLE {mart.name} IS {quote(mart.description)}")
        state.record_mart(con, mart.name, version)


def _from_day(spec: TableSpec, since: Since) -> str:
    """The copy's WHERE for a per-reading table kept from `since` (its date partition; pruned by delta_scan)."""
    return "" if since is None else f' WHERE "{spec.partition_by}" >= DATE {quote(since.isoformat())}'


_DUCKDB_TYPES = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
}


def _duckdb_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    if isinstance(dtype, pl.List):
        return f"{_duckdb_type(dtype.inner)}[]"
    return _DUCKDB_TYPES.get(dtype.base_type(), "VARCHAR")


def _execute_padded(
    con: duckdb.DuckDBPyConnection, sql: str, lake: Lake, spec: TableSpec, source: str
) -> None:
    """Run `sql` over `source`; if the table was written before the registry declared some of its columns
    (a home upgraded in place), read those as NULL of their declared type instead of failing the refresh.
    The table itself gets the columns at its next write."""
    try:
        con.execute(sql.replace("{source}", source))
    except duckdb.BinderException:
        present = {f.name for f in lake.table(spec).schema().fields}
        missing = [c for c in spec.columns if c.name not in present]
        if not missing:
            raise
        nulls = ", ".join(f"CAST(NULL AS {_duckdb_type(c.dtype)}) AS {c.name}" for c in missing)
        con.execute(sql.replace("{source}", f"(SELECT *, {nulls} FROM {source})"))


def _publish(tmp: Path, live: Path) -> None:
    """Durably rename the new file over the live one, keeping the live file's permissions (OS groups
    decide who may open which role's file)."""
    if live.exists():
        shutil.copymode(live, tmp)
        st = live.stat()
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)
    fsync_path(tmp)
    # a log beside the live file can only come from someone's read-write session on the old file; it must
    # never be replayed onto the new one
    Path(f"{live}.wal").unlink(missing_ok=True)
    os.replace(tmp, live)
    fsync_path(live.parent)
