"""How a platform session (a refresh, a test, a bench) reads the lake's Delta tables in DuckDB: the delta
and httpfs extensions from PyPI wheels (nothing downloaded at run time), the S3 secret for a lake on
object storage, and a table's `delta_scan` at a recorded version. Sealed sessions load none of it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import duckdb_extension_delta
import duckdb_extension_httpfs

from warehouse.registry import TableSpec
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


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


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
    body = ", ".join(f"{k} {quote(v) if k not in ('TYPE', 'USE_SSL') else v}" for k, v in parts.items())
    return f"CREATE OR REPLACE SECRET lake_s3 ({body})"


def load_lake_extensions(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Let a platform session read the lake's Delta tables: the delta extension, and for a lake on object
    storage httpfs and an S3 secret (both extensions from PyPI wheels: nothing downloaded at run time)."""
    if lake.remote:
        con.execute(f"LOAD '{HTTPFS_EXTENSION}'")
    con.execute(f"LOAD '{DELTA_EXTENSION}'")
    if lake.remote:
        con.execute(duckdb_s3_secret(lake.storage_options))


def delta_source(lake: Lake, spec: TableSpec, version: int | None = None) -> str:
    """The table's `delta_scan`; at `version`, exactly the version recorded for a copy (a commit landing
    meanwhile is picked up by the next refresh, never half-counted)."""
    at = "" if version is None else f", version = {int(version)}"
    return f"delta_scan({quote(lake.table_uri(spec))}{at})"
