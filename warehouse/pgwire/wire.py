"""PostgreSQL protocol 3.0 on the wire: message constants, type OIDs and text values, bind parameters,
and DuckDB errors as SQLSTATEs."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import re
import struct
import uuid

import duckdb

log = logging.getLogger("lakehouse.sqlserve")


PROTOCOL_3 = 196608


SSL_REQUEST, GSS_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102


SERVER_VERSION = "15.0 (lakehouse DuckDB endpoint)"


# DuckDB type -> (PostgreSQL type OID, type size)
PG_TYPES: dict[str, tuple[int, int]] = {
    "BOOLEAN": (16, 1),
    "TINYINT": (21, 2),
    "SMALLINT": (21, 2),
    "INTEGER": (23, 4),
    "BIGINT": (20, 8),
    "UTINYINT": (21, 2),
    "USMALLINT": (23, 4),
    "UINTEGER": (20, 8),
    "UBIGINT": (1700, -1),
    "HUGEINT": (1700, -1),
    "FLOAT": (700, 4),
    "DOUBLE": (701, 8),
    "DATE": (1082, 4),
    "TIME": (1083, 8),
    "TIMESTAMP": (1114, 8),
    "TIMESTAMP WITH TIME ZONE": (1184, 8),
    "INTERVAL": (1186, 16),
    "UUID": (2950, 16),
    "BLOB": (17, -1),
    "VARCHAR": (25, -1),
}


PG_TYPE_NAMES = {
    16: "boolean",
    21: "smallint",
    23: "integer",
    20: "bigint",
    1700: "numeric",
    700: "real",
    701: "double precision",
    1082: "date",
    1083: "time without time zone",
    1114: "timestamp without time zone",
    1184: "timestamp with time zone",
    1186: "interval",
    2950: "uuid",
    17: "bytea",
    25: "text",
}


def pg_type(duck_type: str) -> tuple[int, int]:
    t = str(duck_type).upper()
    if t.startswith("DECIMAL"):
        return 1700, -1
    if t.startswith("TIMESTAMP") and "TIME ZONE" in t:
        return 1184, 8
    if t.startswith("TIMESTAMP"):
        return 1114, 8
    return PG_TYPES.get(t, (25, -1))


def text_value(v: object) -> bytes | None:
    """A value in PostgreSQL's text format."""
    if v is None:
        return None
    if v is True:
        return b"t"
    if v is False:
        return b"f"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ").encode()
    if isinstance(v, bytes | bytearray | memoryview):
        return b"\\x" + bytes(v).hex().encode()
    if isinstance(v, float | decimal.Decimal | int | str | dt.date | dt.time | uuid.UUID):
        return str(v).encode()
    if isinstance(v, dt.timedelta):
        return f"{v.days} days {v.seconds} seconds {v.microseconds} microseconds".encode()
    return json.dumps(v, default=str).encode()


def data_row(row: tuple) -> bytes:
    """One DataRow message from Python values (catalog answers; results DuckDB cannot frame itself)."""
    payload = bytearray(b"D\0\0\0\0" + struct.pack("!H", len(row)))
    for v in row:
        b = text_value(v)
        payload += b"\xff\xff\xff\xff" if b is None else struct.pack("!i", len(b)) + b
    struct.pack_into("!I", payload, 1, len(payload) - 1)
    return bytes(payload)


def _text_sql(col: str, duck_type: str) -> str:
    """SQL for a column's PostgreSQL text format (text_value's, computed by DuckDB)."""
    t = duck_type.upper()
    if t == "BOOLEAN":
        return f"CASE WHEN {col} THEN 't' ELSE 'f' END"
    if t == "BLOB":
        return f"'\\x' || lower(hex({col}))"
    if t in ("DOUBLE", "FLOAT"):
        return (
            f"CASE WHEN isnan({col}) THEN 'NaN' WHEN isinf({col}) THEN "
            f"CASE WHEN {col} > 0 THEN 'Infinity' ELSE '-Infinity' END ELSE CAST({col} AS VARCHAR) END"
        )
    if t.endswith("]") or t.startswith(("STRUCT", "MAP", "UNION")):
        return f"CAST(to_json({col}) AS VARCHAR)"
    return f"CAST({col} AS VARCHAR)"


def data_rows_sql(sql: str, types: list[str]) -> str:
    """`sql` wrapped so that each result row comes back as its whole DataRow message (a BLOB): formatting
    and framing run in DuckDB, off the GIL every connection of the server shares, and Python only joins
    the messages. Columns are taken by position (`#1`), as names may repeat."""
    texts = ", ".join(f"encode({_text_sql(f'#{i}', t)}) AS t{i}" for i, t in enumerate(types, start=1))
    size = " + ".join(
        [str(6 + 4 * len(types))] + [f"coalesce(octet_length(t{i}), 0)" for i in range(1, len(types) + 1)]
    )
    fields = " || ".join(
        f"CASE WHEN t{i} IS NULL THEN '\\xFF\\xFF\\xFF\\xFF'::BLOB "
        f"ELSE unhex(printf('%08x', octet_length(t{i}))) || t{i} END"
        for i in range(1, len(types) + 1)
    )
    body = sql.rstrip().rstrip(";")
    return (
        f"SELECT 'D'::BLOB || unhex(printf('%08x', {size})) || unhex(printf('%04x', {len(types)})) || {fields} "
        f"FROM (SELECT {texts} FROM (\n{body}\n))"
    )


class PgError(Exception):
    """An error sent to the client as an ErrorResponse."""

    def __init__(self, message: str, sqlstate: str = "XX000", status: str = "error") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.status = status  # for the audit


def cstr(b: bytes) -> tuple[str, bytes]:
    i = b.index(b"\0")
    return b[:i].decode(), b[i + 1 :]


def count_params(query: str) -> int:
    found = [int(m) for m in re.findall(r"\$(\d+)", query)]
    return max(found, default=0)


BINARY_DECODERS = {
    16: lambda b: b != b"\0",
    21: lambda b: struct.unpack("!h", b)[0],
    23: lambda b: struct.unpack("!i", b)[0],
    20: lambda b: struct.unpack("!q", b)[0],
    700: lambda b: struct.unpack("!f", b)[0],
    701: lambda b: struct.unpack("!d", b)[0],
}


def bind_params(rest: bytes, oids: list[int]) -> tuple[list, list[int]]:
    (nf,) = struct.unpack("!H", rest[:2])
    formats = list(struct.unpack(f"!{nf}H", rest[2 : 2 + 2 * nf]))
    pos = 2 + 2 * nf
    (n,) = struct.unpack("!H", rest[pos : pos + 2])
    pos += 2
    params = []
    for i in range(n):
        (length,) = struct.unpack("!i", rest[pos : pos + 4])
        pos += 4
        if length < 0:
            params.append(None)
            continue
        raw = rest[pos : pos + length]
        pos += length
        fmt = formats[i] if len(formats) > 1 else (formats[0] if formats else 0)
        oid = oids[i] if i < len(oids) else 0
        if fmt == 1:
            if oid not in BINARY_DECODERS:
                raise PgError(f"binary parameter of type {oid} is not supported", "0A000")
            params.append(BINARY_DECODERS[oid](raw))
        else:
            params.append(raw.decode())
    (nr,) = struct.unpack("!H", rest[pos : pos + 2])
    result_formats = list(struct.unpack(f"!{nr}H", rest[pos + 2 : pos + 2 + 2 * nr]))
    return params, result_formats


def duck_message(exc: duckdb.Error) -> str:
    return str(exc).split("\n\nLINE", 1)[0].strip()


def sqlstate(exc: duckdb.Error) -> str:
    if isinstance(exc, duckdb.PermissionException):
        return "42501"
    if isinstance(exc, duckdb.CatalogException):
        return "42P01"
    if isinstance(exc, duckdb.ParserException):
        return "42601"
    if isinstance(exc, duckdb.BinderException):
        return "42703"
    if isinstance(exc, duckdb.OutOfMemoryException):
        return "53200"
    return "XX000"
