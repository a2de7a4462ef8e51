"""DuckDB serving: one view per registry table over its Delta table, in a schema per layer.

The views read Delta through DuckDB's `delta` extension (`delta_scan`), so they always show the latest
committed version; they only need creating when a table first appears. The extension comes from the
PyPI package `duckdb-extension-delta` (no download at run time): it is LOADed from its file.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import duckdb_extension_delta

from warehouse.privacy import mask_sql
from warehouse.registry import LAYERS, TABLES, TableSpec
from warehouse.storage import Lake

DELTA_EXTENSION = (
    Path(duckdb_extension_delta.__file__).parent
    / "extensions"
    / f"v{duckdb.__version__}"
    / "delta.duckdb_extension"
)


def connect(db_path: Path, *, read_only: bool = False, retries: int = 20) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with the delta extension loaded; wait briefly if a writer holds the lock."""
    for attempt in range(retries):
        try:
            con = duckdb.connect(str(db_path), read_only=read_only)
            break
        except duckdb.IOException:
            if attempt == retries - 1:
                raise
            time.sleep(0.25)
    con.execute(f"LOAD '{DELTA_EXTENSION}'")
    return con


def view_sql(spec: TableSpec, lake: Lake) -> str:
    comment = spec.description.replace("'", "''")
    masked = [f"{mask_sql(c.pii, c.name)} AS {c.name}" for c in spec.columns if c.pii]
    select = f"* REPLACE ({', '.join(masked)})" if masked else "*"  # personal data never in clear (DOMAIN.md)
    return (
        f"CREATE OR REPLACE VIEW {spec.name} AS SELECT {select} FROM delta_scan('{lake.path(spec)}');\n"
        f"COMMENT ON VIEW {spec.name} IS '{comment}';"
    )


def refresh_views(db_path: Path, lake: Lake, tables: dict[str, TableSpec] = TABLES) -> list[str]:
    """Create the layer schemas and a view for every registry table that exists in the lake."""
    created = []
    con = connect(db_path)
    try:
        existing = {
            f"{s}.{n}"
            for s, n in con.execute(
                "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
        for layer in LAYERS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        for spec in tables.values():
            if lake.exists(spec) and spec.name not in existing:
                con.execute(view_sql(spec, lake))
                created.append(spec.name)
    finally:
        con.close()
    return created


def query(db_path: Path, sql: str) -> duckdb.DuckDBPyRelation:
    """Run an analyst query read-only (the file may be open in other readers)."""
    con = connect(db_path, read_only=True)
    return con.sql(sql)
