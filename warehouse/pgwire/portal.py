"""The extended query protocol: a parsed statement, its bound parameters and its result, run under
the session's limits."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import struct
import threading
import time
from typing import TYPE_CHECKING

import duckdb

from warehouse.pgwire.audit import tables_touched
from warehouse.pgwire.catalog import catalog_shim
from warehouse.pgwire.wire import (
    PgError,
    count_params,
    data_row,
    data_rows_sql,
    duck_message,
    pg_type,
    sqlstate,
)

# What drivers and GUI clients (JDBC/DBeaver, Superset) set on connect; DuckDB has no such settings and
# the session's configuration is locked, so these are acknowledged and ignored.
CLIENT_SETTING = re.compile(
    r"^\s*SET\s+(SESSION\s+|LOCAL\s+)?(extra_float_digits|application_name|client_encoding|datestyle|"
    r"intervalstyle|statement_timeout|client_min_messages|bytea_output|lc_\w+|standard_conforming_strings)\b",
    re.I,
)

if TYPE_CHECKING:  # for annotations only: the modules import each other
    from warehouse.pgwire.session import Session


class Portal:
    """One statement with its parameters; described (run) once, then its rows sent on Execute."""

    def __init__(self, sql: str, params: list, session: Session) -> None:
        self.sql, self.params, self.session = sql, params, session
        self.columns: list[tuple[str, str]] | None = None
        self.rows: list[bytes] | None = None  # DataRow messages, ready to send
        self.sent = 0
        self.started = time.perf_counter()
        self.error: PgError | None = None
        self.done = False

    def _run(self) -> None:
        """Execute under the statement timeout, with the row cap; audit it."""
        if self.rows is not None or self.error is not None:
            return
        s = self.session
        cfg = s.state.settings
        s.seq += 1
        started = dt.datetime.now(dt.UTC)
        self.started = time.perf_counter()
        status, sqlstate, nrows = "ok", None, 0
        tables = tables_touched(self.sql)
        try:
            s._maybe_reopen()
            shim = catalog_shim(self.sql, s.con)
            if CLIENT_SETTING.match(self.sql):
                self.columns, self.rows = [], []  # a PostgreSQL client setting: accepted, nothing to do
            elif shim is not None:
                self.columns, self.rows = shim[0], [data_row(r) for r in shim[1]]
            else:
                try:
                    self._execute(cfg.sql_statement_timeout_s, cfg.sql_max_rows)
                except PgError as exc:
                    # A client's catalog probe for something DuckDB lacks (statistics, publications, ...):
                    # an empty answer, as PostgreSQL gives for a table that has none of it. Never for a
                    # refusal (a file read that mentions pg_catalog is still refused and audited as such);
                    # the audit keeps the swallowed error's SQLSTATE.
                    if "pg_catalog." not in self.sql or exc.status != "error" or exc.sqlstate == "42501":
                        raise
                    self.columns, self.rows = [("none", "VARCHAR")], []
                    sqlstate = exc.sqlstate
            nrows = len(self.rows)
        except PgError as exc:
            self.error, status, sqlstate = exc, exc.status, exc.sqlstate
            if s.tx == b"T":
                s.tx = b"E"  # as PostgreSQL: the client must ROLLBACK (DuckDB says the same)
        finally:
            s.state.audit.record(
                {
                    "day": started.date(),
                    "started_at": started,
                    "user_name": s.user,
                    "role": s.role,
                    "client_addr": s.peer.rsplit(":", 1)[0],
                    "session_id": s.id,
                    "seq": s.seq,
                    "duration_ms": (time.perf_counter() - self.started) * 1000,
                    "rows": nrows,
                    "tables": json.dumps(tables),
                    "status": status,
                    "sqlstate": sqlstate,
                    "sql_sha256": hashlib.sha256(self.sql.encode()).hexdigest(),
                    "snapshot": s.snapshot,
                }
            )
        if self.error is not None:
            raise self.error

    def _execute(self, timeout_s: float, max_rows: int) -> None:
        s = self.session
        s.cancelled.clear()
        timed_out = threading.Event()

        def _expire() -> None:
            timed_out.set()
            with contextlib.suppress(Exception):
                s.con.interrupt()

        deadline = s.state.deadlines.add(timeout_s, _expire)
        try:
            sql = s.duckdb_sql(self.sql)
            rel = s.con.sql(sql, params=self.params or None)  # binds a query; runs a command
            self.columns = (
                list(zip(rel.columns, [str(t) for t in rel.types], strict=True)) if rel is not None else []
            )
            self.rows = self._fetch(rel, sql, max_rows + 1) if rel is not None else []
        except duckdb.InterruptException:
            if timed_out.is_set():
                raise PgError(
                    f"canceling statement due to statement timeout ({timeout_s:g} s)", "57014", "timeout"
                ) from None
            raise PgError("canceling statement due to user request", "57014", "cancelled") from None
        except duckdb.Error as exc:
            raise PgError(duck_message(exc), sqlstate(exc)) from None
        finally:
            s.state.deadlines.cancel(deadline)
        if len(self.rows) > max_rows:
            self.rows = []
            raise PgError(
                f"result exceeds the row cap of {max_rows:,} rows; aggregate or add LIMIT", "54000", "row_cap"
            )
        head = self.sql.lstrip().split(None, 1)[0].upper() if self.sql.strip() else ""
        if head in ("BEGIN", "START"):
            s.tx = b"T"
        elif head in ("COMMIT", "ROLLBACK", "END", "ABORT"):
            s.tx = b"I"

    def _fetch(self, rel: duckdb.DuckDBPyRelation, sql: str, n: int) -> list[bytes]:
        """Up to n rows as DataRow messages, framed by DuckDB (wire.data_rows_sql); a result that cannot
        be wrapped as a subquery (PRAGMA, EXPLAIN, ...) fails to bind, before running, and is framed
        in Python instead."""
        try:
            cur = self.session.con.execute(
                data_rows_sql(sql, [t for _, t in self.columns]), self.params or None
            )
        except (duckdb.BinderException, duckdb.ParserException):
            return [data_row(r) for r in rel.fetchmany(n)]
        return [r[0] for r in cur.fetchmany(n)]

    def describe(self, send: bool) -> None:
        self._run()
        if not send:
            return
        if self.columns:
            self._row_description()
        else:
            self.session.send(b"n")

    def describe_statement(self) -> None:
        """Columns of a prepared statement without running it (DuckDB binds the relation only)."""
        try:
            rel = (
                self.session.con.sql(self.session.duckdb_sql(self.sql))
                if not count_params(self.sql)
                else None
            )
        except duckdb.Error:
            rel = None
        if rel is None:
            self.session.send(b"n")
            return
        self.columns = list(zip(rel.columns, [str(t) for t in rel.types], strict=True))
        self._row_description()

    def _row_description(self) -> None:
        payload = bytearray(struct.pack("!H", len(self.columns)))
        for name, duck_type in self.columns:
            oid, size = pg_type(duck_type)
            payload += name.encode() + b"\0" + struct.pack("!IHIhiH", 0, 0, oid, size, -1, 0)
        self.session.send(b"T", bytes(payload))

    def execute(self, limit: int) -> None:
        self._run()
        s = self.session
        if self.done:
            s.send(b"C", b"SELECT 0\0")
            return
        if not self.columns:
            head = self.sql.lstrip().split(None, 1)[0].upper() if self.sql.strip() else ""
            s.send(b"C", (head or "SELECT").encode() + b"\0")
            self.done = True
            return
        end = len(self.rows) if limit <= 0 else min(len(self.rows), self.sent + limit)
        s.send_message(b"".join(self.rows[self.sent : end]))
        self.sent = end
        if end < len(self.rows):
            s.send(b"s")  # PortalSuspended
            return
        s.send(b"C", f"SELECT {len(self.rows)}\0".encode())
        self.done = True
