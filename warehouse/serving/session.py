"""The one way a query reaches a role's database: a sealed, read-only DuckDB session on its file."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.access import ANALYST, Role, role_database
from warehouse.serving.delta import quote
from warehouse.serving.refresh import refresh_role_views
from warehouse.storage import Lake

ALIAS = "warehouse"  # the catalog name a session sees the role file under


class WarehouseMissing(FileNotFoundError):
    """The role's database was never built (run `lakehouse materialize`)."""


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
        con.execute(f"ATTACH {quote(str(db_path))} AS {ALIAS} (READ_ONLY)")
        con.execute(f"USE {ALIAS}")
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            con.execute(f"SET memory_limit = {quote(memory_limit)}")
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
