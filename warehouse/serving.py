"""DuckDB serving: one database file per role, holding native copies of the registry tables it may see.

Why copies and not views over `delta_scan`: a view can only read the lake if the session can, and a session
that can read a table's Delta folder can read every column in it (the grade-3 `legal_representative_id`,
personal data in clear). So a role's file holds native tables: only the columns its grade allows, personal
data already masked (DOMAIN.md), plus the marts. Sessions are sealed (`connect`): no file, extension or
network access, configuration locked. The file carries no path into the lake, so a moved or restored
home reads its own tables from the first query.

Why files are replaced, never written in place: analysts keep the file open read-only (DuckDB CLI,
DBeaver), and a read-write open would need a lock they hold. A refresh copies the live file beside it,
applies what changed in the lake (only the changed partitions of partitioned tables, found in the Delta
log), then renames it over the live one. Open sessions keep their snapshot; new sessions see the new
one. Writers serialize on `<warehouse>.lock` (fcntl), never on a database file.

The delta extension comes from the PyPI package `duckdb-extension-delta` (no download at run time); only
refreshes load it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import duckdb_extension_delta
import duckdb_extension_httpfs
import polars as pl

from warehouse.access import ANALYST, ROLES, Role, role_database, visible_columns
from warehouse.privacy import mask_sql
from warehouse.registry import ENERGY_DAILY, TABLES, TableSpec
from warehouse.storage import Lake

DELTA_EXTENSION = (
    Path(duckdb_extension_delta.__file__).parent
    / "extensions"
    / f"v{duckdb.__version__}"
    / "delta.duckdb_extension"
)
# httpfs (PyPI `duckdb-extension-httpfs`): DuckDB reading a lake on S3-compatible object storage
HTTPFS_EXTENSION = (
    Path(duckdb_extension_httpfs.__file__).parent
    / "extensions"
    / f"v{duckdb.__version__}"
    / "httpfs.duckdb_extension"
)
FORMAT = "2"  # role files of native tables; anything else (e.g. views over delta_scan) is rebuilt
ALIAS = "warehouse"  # the catalog name a session sees the role file under


class WarehouseMissing(FileNotFoundError):
    """The role's database was never built (run `lakehouse materialize`)."""


# ---- sessions ----------------------------------------------------------------------------------


def duckdb_s3_secret(storage_options: dict[str, str]) -> str:
    """A `CREATE SECRET` giving a DuckDB session (httpfs loaded) the lake's S3 endpoint and keys."""
    o = {k.upper(): v for k, v in storage_options.items()}
    scheme, _, host = o.get("AWS_ENDPOINT_URL", "https://s3.amazonaws.com").partition("://")
    parts = {
        "TYPE": "s3",
        "KEY_ID": o.get("AWS_ACCESS_KEY_ID", ""),
        "SECRET": o.get("AWS_SECRET_ACCESS_KEY", ""),
        "REGION": o.get("AWS_REGION", "us-east-1"),
        "ENDPOINT": host,
        "URL_STYLE": "path",
        "USE_SSL": "true" if scheme == "https" else "false",
    }
    body = ", ".join(f"{k} {_quote(v) if k not in ('TYPE', 'USE_SSL') else v}" for k, v in parts.items())
    return f"CREATE OR REPLACE SECRET lake_s3 ({body})"


def load_lake_extensions(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Let a platform session read the lake's Delta tables: the delta extension, and for a lake on object
    storage httpfs and an S3 secret (both extensions from PyPI wheels: nothing downloaded at run time)."""
    if lake.remote:
        con.execute(f"LOAD '{HTTPFS_EXTENSION}'")
    con.execute(f"LOAD '{DELTA_EXTENSION}'")
    if lake.remote:
        con.execute(duckdb_s3_secret(lake.storage_options))


def connect(
    db_path: Path, *, read_only: bool = True, threads: int | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """The one way a query reaches a role's database: read-only and sealed, whatever SQL it sends.

    The file is attached read-only to a fresh in-memory session (so a process never gets a cached
    instance of a file replaced since), then external access goes off (no read_csv/read_parquet/
    delta_scan of any path, no COPY TO, no ATTACH, no INSTALL/LOAD, no network) and the configuration is
    locked (no SET/RESET gives any of it back). Spilling to disk is off too, so no query writes a file.
    A server holding many sessions caps each one's threads and memory before the lock.
    """
    if not read_only:
        raise ValueError("role databases are only ever opened read-only; refreshes build a new file")
    db_path = Path(db_path)
    if not db_path.is_file():
        raise WarehouseMissing(f"no warehouse at {db_path}: run `lakehouse materialize` first")
    con = duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "temp_directory": "",
        },
    )
    try:
        con.execute(f"ATTACH {_quote(str(db_path))} AS {ALIAS} (READ_ONLY)")
        con.execute(f"USE {ALIAS}")
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            con.execute(f"SET memory_limit = {_quote(memory_limit)}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def open_role(
    warehouse_db: Path, role: Role = ANALYST, *, lake: Lake | None = None
) -> duckdb.DuckDBPyConnection:
    """A sealed session on the role's database; with `lake`, first brought up to date with this home's lake.

    Readers that report what they read (the national sync) pass the lake: they never read a file built
    from another home or behind the lake. Analysts (`lakehouse sql`) just open the file.
    """
    if lake is not None:
        refresh_role_views(warehouse_db, lake)
    return connect(role_database(warehouse_db, role))


def query(db_path: Path, sql: str) -> duckdb.DuckDBPyRelation:
    """Run an analyst query in a sealed session (the file may be open in other readers)."""
    return connect(db_path).sql(sql)


# ---- what a role sees ----------------------------------------------------------------------------


def select_sql(spec: TableSpec, role: Role = ANALYST) -> str | None:
    """The role's columns of a table: only those its grade allows, personal data masked (DOMAIN.md)."""
    columns = visible_columns(spec, role)
    if not columns:
        return None
    return ", ".join(f"{mask_sql(c.pii, c.name)} AS {c.name}" if c.pii else c.name for c in columns)


def view_sql(spec: TableSpec, lake: Lake, role: Role = ANALYST) -> str | None:
    """The role's view of a table straight over its Delta folder, for platform code that reads the lake
    in its own in-memory session (tests, benchmarks); people get native copies (`refresh_role_views`)."""
    select = select_sql(spec, role)
    if select is None:
        return None
    comment = spec.description.replace("'", "''")
    return (
        f"CREATE OR REPLACE VIEW {spec.name} AS SELECT {select} FROM delta_scan({_quote(lake.table_uri(spec))});\n"
        f"COMMENT ON VIEW {spec.name} IS '{comment}';"
    )


@dataclass(frozen=True)
class Mart:
    """A DuckDB table of roll-ups analysts query often, rebuilt from its source when the source changes.

    Querying a day-partitioned Delta table through delta_scan opens one file per day (a year: 365 files,
    p95 150-280 ms in the bench); the same rows as a native DuckDB table answer in a few ms.
    """

    name: str  # "mart.<table>"
    source: TableSpec
    sql: str  # over {source}: the role's copy of the source table
    description: str


MARTS: tuple[Mart, ...] = (
    Mart(
        "mart.energy_city_industry_day",
        ENERGY_DAILY,
        "SELECT day, city_code, industry_code, count(DISTINCT uscc) AS enterprises, count(*) AS equipment, "
        "sum(electricity_kwh) AS electricity_kwh, sum(natural_gas_m3) AS natural_gas_m3, sum(coal_t) AS coal_t, "
        "sum(energy_tce) AS energy_tce, max(peak_load_kw) AS peak_load_kw, "
        "sum(readings_received) AS readings_received, sum(readings_expected) AS readings_expected "
        "FROM {source} GROUP BY ALL ORDER BY day, city_code, industry_code",
        "Energy per city x GB/T 4754 division x local day (from theme.energy_daily), for roll-up queries",
    ),
)


# ---- refresh -----------------------------------------------------------------------------------


def refresh_role_views(warehouse_db: Path, lake: Lake, tables: dict[str, TableSpec] = TABLES) -> list[str]:
    """Every role's database (see warehouse.access): the analysts' warehouse.duckdb and the stewards'.

    Returns "role:table" for every table or mart rebuilt; a refresh with nothing to do opens no extension
    and writes nothing.
    """
    dbs = {role: role_database(warehouse_db, role) for role in ROLES.values()}
    built = _refresh(dbs, lake, tables, MARTS, lock=warehouse_db)
    return [f"{role.name}:{name}" for role, names in built.items() for name in names]


def refresh_views(
    db_path: Path, lake: Lake, tables: dict[str, TableSpec] = TABLES, role: Role = ANALYST
) -> list[str]:
    """One role's database without marts (tests, tools); returns the tables rebuilt."""
    return _refresh({role: Path(db_path)}, lake, tables, (), lock=Path(db_path))[role]


@dataclass
class _Plan:
    """What one role file needs: tables copied whole, partitions replaced, tables dropped, marts rebuilt."""

    role: Role
    db: Path
    from_live: bool  # start from a copy of the live file (else from nothing)
    full: list[tuple[TableSpec, str, str, int]] = field(default_factory=list)  # spec, select, fp, version
    partial: list[tuple[TableSpec, str, str, int, set]] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    marts: list[tuple[Mart, int]] = field(default_factory=list)
    drop_marts: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.full or self.partial or self.drop or self.marts or self.drop_marts)

    def names(self) -> list[str]:
        return [s.name for s, *_ in self.full + self.partial] + [m.name for m, _ in self.marts]


def _refresh(
    dbs: dict[Role, Path], lake: Lake, tables: dict[str, TableSpec], marts: tuple[Mart, ...], *, lock: Path
) -> dict[Role, list[str]]:
    with _writer_lock(lock):
        versions = {name: delta_version(lake, spec) for name, spec in tables.items()}
        plans = [_plan(role, db, lake, tables, marts, versions) for role, db in dbs.items()]
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


def delta_version(lake: Lake, spec: TableSpec) -> int | None:
    """The latest committed version of a Delta table, from its log's file names (no log parsed)."""
    return lake.log_version(spec)


def changed_partitions(lake: Lake, spec: TableSpec, since: int, until: int) -> set | None:
    """Partition values touched by commits since+1..until (Delta log add/remove actions); None when the
    change cannot be confined to partitions (unpartitioned table, schema or protocol change, log gone).
    Actions with dataChange false (housekeeping's compaction rewrites files, not rows) touch nothing."""
    partition_by = spec.partition_by
    if not partition_by:
        return None
    touched: set = set()
    for version in range(since + 1, until + 1):
        text = lake.log_commit(spec, version)
        if text is None:
            return None
        for line in filter(str.strip, text.splitlines()):
            action = json.loads(line)
            if "metaData" in action or "protocol" in action:
                return None
            for kind in ("add", "remove"):
                if kind in action and action[kind].get("dataChange") is not False:  # not a compaction's
                    values = action[kind].get("partitionValues")
                    if not isinstance(values, dict) or partition_by not in values:
                        return None
                    touched.add(values[partition_by])
    return touched


def _fingerprint(spec: TableSpec, select: str) -> str:
    return hashlib.sha256(f"{select}\n{spec.description}".encode()).hexdigest()[:16]


def _read_state(db: Path, lake: Lake) -> tuple[dict[str, tuple[str, int]], dict[str, int]] | None:
    """Tables (fingerprint, version) and marts (source version) of the live file; None when it must be
    built from nothing: absent, of another format, or built from another home's lake (moved, restored)."""
    if not db.is_file():
        return None
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {_quote(str(db))} AS live (READ_ONLY)")
        have = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'live'"
            ).fetchall()
        }
        if not {"lakehouse_serving", "lakehouse_tables", "lakehouse_marts"} <= have:
            return None
        meta = dict(con.execute("SELECT key, value FROM live.main.lakehouse_serving").fetchall())
        if meta.get("format") != FORMAT or meta.get("lake_root") != lake.identity:
            return None
        tables = {
            n: (fp, v) for n, fp, v in con.execute("SELECT * FROM live.main.lakehouse_tables").fetchall()
        }
        built = dict(
            con.execute("SELECT mart_name, source_version FROM live.main.lakehouse_marts").fetchall()
        )
        return tables, built
    except duckdb.Error:
        return None  # unreadable: rebuild it
    finally:
        con.close()


def _plan(
    role: Role,
    db: Path,
    lake: Lake,
    tables: dict[str, TableSpec],
    marts: tuple[Mart, ...],
    versions: dict[str, int | None],
) -> _Plan:
    state = _read_state(db, lake)
    known, built = state if state is not None else ({}, {})
    plan = _Plan(role, db, from_live=state is not None)
    wanted: dict[str, int] = {}
    for name, spec in tables.items():
        select, version = select_sql(spec, role), versions[name]
        if select is None or version is None:
            continue
        wanted[name] = version
        fp = _fingerprint(spec, select)
        have = known.get(name)
        if have is None or have[0] != fp:
            plan.full.append((spec, select, fp, version))
        elif have[1] != version:
            parts = changed_partitions(lake, spec, have[1], version)
            visible = {c.name for c in visible_columns(spec, role)}
            if parts is None or have[1] > version or spec.partition_by not in visible:
                plan.full.append((spec, select, fp, version))
            else:
                plan.partial.append((spec, select, fp, version, parts))
    # gone from the lake or from the role's sight; a refresh of some tables leaves the others alone
    plan.drop = sorted(n for n in known if n not in wanted and (n in tables or n not in TABLES))
    copied = {s.name for s, *_ in plan.full + plan.partial}
    for mart in marts:
        source = mart.source.name
        if source in wanted and (built.get(mart.name) != wanted[source] or source in copied):
            plan.marts.append((mart, wanted[source]))
        elif source not in wanted and mart.name in built:
            plan.drop_marts.append(mart.name)
    return plan


def _build(plans: list[_Plan], lake: Lake) -> None:
    """Build each role's new file beside the live one, then rename it over the live one."""
    con = duckdb.connect(":memory:")
    try:
        load_lake_extensions(con, lake)
        for i, plan in enumerate(plans):
            for stale in plan.db.parent.glob(f"{plan.db.name}.*.building*"):
                stale.unlink(missing_ok=True)  # a crashed refresh's leftovers (we hold the writer lock)
            tmp = plan.db.with_name(f"{plan.db.name}.{os.getpid()}.building")
            if plan.from_live:
                shutil.copyfile(plan.db, tmp)
            alias = f"build_{i}"
            con.execute(f"ATTACH {_quote(str(tmp))} AS {alias}")
            try:
                con.execute(f"USE {alias}")
                _apply(con, plan, lake)
                con.execute("USE memory")
                con.execute(f"CHECKPOINT {alias}")
            finally:
                con.execute("USE memory")
                con.execute(f"DETACH {alias}")
            if Path(f"{tmp}.wal").exists():
                raise RuntimeError(f"{tmp}: write-ahead log left after checkpoint; not replacing {plan.db}")
            _publish(tmp, plan.db)
    finally:
        con.close()


def _apply(con: duckdb.DuckDBPyConnection, plan: _Plan, lake: Lake) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS main.lakehouse_serving (key VARCHAR PRIMARY KEY, value VARCHAR);"
        "CREATE TABLE IF NOT EXISTS main.lakehouse_tables "
        "(table_name VARCHAR PRIMARY KEY, fingerprint VARCHAR, version BIGINT);"
        "CREATE TABLE IF NOT EXISTS main.lakehouse_marts (mart_name VARCHAR PRIMARY KEY, source_version BIGINT)"
    )
    for key, value in (("format", FORMAT), ("lake_root", lake.identity), ("role", plan.role.name)):
        con.execute("INSERT OR REPLACE INTO main.lakehouse_serving VALUES (?, ?)", [key, value])
    for name in plan.drop + plan.drop_marts:
        con.execute(f"DROP TABLE IF EXISTS {name}")
        con.execute("DELETE FROM main.lakehouse_tables WHERE table_name = ?", [name])
        con.execute("DELETE FROM main.lakehouse_marts WHERE mart_name = ?", [name])
    for spec, select, fp, version in plan.full:
        source = _delta_source(lake, spec, version)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {spec.layer}")
        _execute_padded(
            con, f"CREATE OR REPLACE TABLE {spec.name} AS SELECT {select} FROM {{source}}", lake, spec, source
        )
        con.execute(f"COMMENT ON TABLE {spec.name} IS {_quote(spec.description)}")
        con.execute("INSERT OR REPLACE INTO main.lakehouse_tables VALUES (?, ?, ?)", [spec.name, fp, version])
    for spec, select, fp, version, parts in plan.partial:
        schema, table = spec.name.split(".", 1)
        (dtype,) = con.execute(
            "SELECT data_type FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ? AND column_name = ?",
            [schema, table, spec.partition_by],
        ).fetchone()
        col = f'"{spec.partition_by}"'
        values = [f"CAST({_quote(str(v))} AS {dtype})" for v in parts if v is not None]
        conds = ([f"{col} IN ({', '.join(values)})"] if values else []) + (
            [f"{col} IS NULL"] if None in parts else []
        )
        where = " OR ".join(conds) or "false"
        source = _delta_source(lake, spec, version)
        con.execute(f"DELETE FROM {spec.name} WHERE {where}")
        _execute_padded(
            con,
            f"INSERT INTO {spec.name} BY NAME SELECT {select} FROM {{source}} WHERE {where}",
            lake,
            spec,
            source,
        )
        con.execute("INSERT OR REPLACE INTO main.lakehouse_tables VALUES (?, ?, ?)", [spec.name, fp, version])
    for mart, version in plan.marts:
        con.execute("CREATE SCHEMA IF NOT EXISTS mart")
        con.execute(f"CREATE OR REPLACE TABLE {mart.name} AS {mart.sql.format(source=mart.source.name)}")
        con.execute(f"COMMENT ON TABLE {mart.name} IS {_quote(mart.description)}")
        con.execute("INSERT OR REPLACE INTO main.lakehouse_marts VALUES (?, ?)", [mart.name, version])


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


def _delta_source(lake: Lake, spec: TableSpec, version: int) -> str:
    """The table exactly at the version recorded for the copy (a commit landing meanwhile is picked up
    by the next refresh, never half-counted)."""
    return f"delta_scan({_quote(lake.table_uri(spec))}, version = {int(version)})"


def _publish(tmp: Path, live: Path) -> None:
    """Durably rename the new file over the live one, keeping the live file's permissions (OS groups
    decide who may open which role's file)."""
    if live.exists():
        shutil.copymode(live, tmp)
        st = live.stat()
        with contextlib.suppress(PermissionError):
            os.chown(tmp, st.st_uid, st.st_gid)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    # a log beside the live file can only come from someone's read-write session on the old file; it must
    # never be replayed onto the new one
    Path(f"{live}.wal").unlink(missing_ok=True)
    os.replace(tmp, live)
    dir_fd = os.open(live.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
