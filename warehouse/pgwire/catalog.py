"""pg_catalog for psql and GUI clients: the introspection queries they send, answered from DuckDB."""

from __future__ import annotations

import re

import duckdb

from warehouse.pgwire.wire import PG_TYPE_NAMES, pg_type

_PSQL_OPERATOR = re.compile(r"OPERATOR\(pg_catalog\.(~|!~|=|<>)\)")


_COLLATE = re.compile(r"\s+COLLATE\s+pg_catalog\.default", re.I)


_REGEX_ARG = re.compile(r"(\w+)\.(relname|nspname)\s+OPERATOR\(pg_catalog\.~\)\s+'([^']*)'")


_OID_ARG = re.compile(r"(?:c\.oid|a\.attrelid)\s*=\s*'(\d+)'")


def catalog_shim(sql: str, con: duckdb.DuckDBPyConnection) -> tuple[list, list] | None:
    """Answers for the catalog queries psql's \\dt and \\d send, from DuckDB's own catalog.

    DuckDB emulates part of pg_catalog, but psql's describe queries use operators, collations, casts and
    tables (pg_policy, pg_publication, pg_statistic_ext, ...) it does not have. Anything else runs in
    DuckDB unchanged.
    """
    if "pg_catalog." not in sql:
        return None
    flat = " ".join(sql.split())
    if 'as "Schema"' in flat and "c.relkind IN ('r','p'" in flat and "pg_table_is_visible" in flat:
        rows = con.execute(
            "SELECT schema_name, table_name, 'table', 'lakehouse' FROM duckdb_tables() "
            "WHERE database_name = current_database() AND schema_name <> 'main' ORDER BY 1, 2"
        ).fetchall()
        cols = [("Schema", "VARCHAR"), ("Name", "VARCHAR"), ("Type", "VARCHAR"), ("Owner", "VARCHAR")]
        return cols, rows
    if flat.startswith("SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c"):
        conds, args = ["database_name = current_database()"], []
        for _alias, col, pattern in _REGEX_ARG.findall(flat):
            conds.append(f"regexp_full_match({'table_name' if col == 'relname' else 'schema_name'}, ?)")
            args.append(pattern)
        if "pg_table_is_visible" in flat and not any(c == "nspname" for _, c, _ in _REGEX_ARG.findall(flat)):
            conds.append("schema_name <> 'main'")
        rows = con.execute(
            f"SELECT CAST(table_oid AS VARCHAR), schema_name, table_name FROM duckdb_tables() "
            f"WHERE {' AND '.join(conds)} ORDER BY 2, 3",
            args,
        ).fetchall()
        return [("oid", "VARCHAR"), ("nspname", "VARCHAR"), ("relname", "VARCHAR")], rows
    oid = _OID_ARG.search(flat)
    if flat.startswith("SELECT c.relchecks, c.relkind") and oid:
        cols = [(f"c{i}", "VARCHAR") for i in range(15)]
        row = ("0", "r", False, False, False, False, False, False, False, "", "0", "", "p", "d", "heap")
        return cols, [row]
    if flat.startswith("SELECT a.attname") and oid:
        rows = con.execute(
            "SELECT column_name, data_type, NULL, NOT is_nullable, NULL, '', '' FROM duckdb_columns() "
            "WHERE table_oid = ? ORDER BY column_index",
            [int(oid.group(1))],
        ).fetchall()
        rows = [(r[0], PG_TYPE_NAMES[pg_type(r[1])[0]], *r[2:]) for r in rows]
        names = [
            "attname",
            "format_type",
            "default",
            "attnotnull",
            "attcollation",
            "attidentity",
            "attgenerated",
        ]
        return [(n, "BOOLEAN" if n == "attnotnull" else "VARCHAR") for n in names], rows
    if oid or "pg_catalog.pg_policy" in flat or "pg_catalog.pg_publication" in flat:
        return [("none", "VARCHAR")], []  # indexes, policies, statistics, inheritance: a lake table has none
    return None


def pg_syntax(sql: str) -> str:
    """psql's `OPERATOR(pg_catalog.~)` and `COLLATE pg_catalog.default` in DuckDB's terms."""
    if "pg_catalog." not in sql:
        return sql
    return _COLLATE.sub("", _PSQL_OPERATOR.sub(r"\1", sql))
