"""The bookkeeping a role file carries so the next refresh can be incremental: the file's format, the
lake it was built from, each table's fingerprint (columns, masking, description) and Delta version, and
each mart's source version. A file whose bookkeeping is missing or foreign is rebuilt from nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.serving.delta import quote
from warehouse.storage import Lake

FORMAT = "2"  # role files of native tables; anything else (e.g. views over delta_scan) is rebuilt

State = tuple[dict[str, tuple[str, int]], dict[str, int]]  # tables (fingerprint, version), marts (version)


def read_state(db: Path, lake: Lake) -> State | None:
    """Tables (fingerprint, version) and marts (source version) of the live file; None when it must be
    built from nothing: absent, of another format, or built from another home's lake (moved, restored)."""
    if not db.is_file():
        return None
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {quote(str(db))} AS live (READ_ONLY)")
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


def copied_versions(con: duckdb.DuckDBPyConnection) -> dict[str, int] | None:
    """The Delta version of each table a role file holds, read in a session on it; None for a session
    reading the lake itself (views over delta_scan: tests, tools)."""
    try:
        return dict(con.execute("SELECT table_name, version FROM lakehouse_tables").fetchall())
    except duckdb.Error:
        return None


def stamp(con: duckdb.DuckDBPyConnection, role_name: str, lake: Lake) -> None:
    """Create the bookkeeping tables in the file being built (current database) and stamp its header."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS main.lakehouse_serving (key VARCHAR PRIMARY KEY, value VARCHAR);"
        "CREATE TABLE IF NOT EXISTS main.lakehouse_tables "
        "(table_name VARCHAR PRIMARY KEY, fingerprint VARCHAR, version BIGINT);"
        "CREATE TABLE IF NOT EXISTS main.lakehouse_marts (mart_name VARCHAR PRIMARY KEY, source_version BIGINT)"
    )
    for key, value in (("format", FORMAT), ("lake_root", lake.identity), ("role", role_name)):
        con.execute("INSERT OR REPLACE INTO main.lakehouse_serving VALUES (?, ?)", [key, value])


def forget(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a table or mart from the file and from its bookkeeping."""
    con.execute(f"DROP TABLE IF EXISTS {name}")
    con.execute("DELETE FROM main.lakehouse_tables WHERE table_name = ?", [name])
    con.execute("DELETE FROM main.lakehouse_marts WHERE mart_name = ?", [name])


def record_table(con: duckdb.DuckDBPyConnection, name: str, fingerprint: str, version: int) -> None:
    con.execute("INSERT OR REPLACE INTO main.lakehouse_tables VALUES (?, ?, ?)", [name, fingerprint, version])


def record_mart(con: duckdb.DuckDBPyConnection, name: str, source_version: int) -> None:
    con.execute("INSERT OR REPLACE INTO main.lakehouse_marts VALUES (?, ?)", [name, source_version])
