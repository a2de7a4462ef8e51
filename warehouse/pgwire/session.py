"""One connection: startup, TLS, login, and every statement through the limits and the audit trail."""

from __future__ import annotations

import contextlib
import secrets
import socket
import struct
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from scramp import ScramMechanism

from warehouse.access import ROLES, role_database
from warehouse.pgwire import pgcatalog, pgrewrite
from warehouse.pgwire.catalog import pg_syntax
from warehouse.pgwire.portal import Portal
from warehouse.pgwire.scram import ScramExchange
from warehouse.pgwire.wire import (
    CANCEL_REQUEST,
    GSS_REQUEST,
    PROTOCOL_3,
    SERVER_VERSION,
    SSL_REQUEST,
    PgError,
    bind_params,
    count_params,
    cstr,
    log,
)
from warehouse.serving.session import connect
from warehouse.sqlusers import MECHANISM, load_users

if TYPE_CHECKING:  # for annotations only: the modules import each other
    from warehouse.pgwire.server import ServerState


class Session:
    """One client connection: startup, SCRAM, then statements in its own sealed DuckDB session."""

    def __init__(self, state: ServerState, sock: socket.socket, peer: str) -> None:
        self.state, self.sock, self.peer = state, sock, peer
        self.id = uuid.uuid4().hex[:12]
        self.pid, self.secret = secrets.randbelow(2**31 - 1) + 1, secrets.randbelow(2**31 - 1)
        self.user: str | None = None
        self.role: str | None = None
        self.db: Path | None = None
        self.con: duckdb.DuckDBPyConnection | None = None
        self.database = "lakehouse"
        self.catalog_of: duckdb.DuckDBPyConnection | None = None  # the DuckDB session pg_catalog is built in
        self.snapshot = ""
        self.seq = 0
        self.tx = b"I"
        self.registered = False
        self.counted = False
        self.cancelled = threading.Event()
        self.running = threading.Lock()
        self.prepared: dict[str, tuple[str, list[int]]] = {}
        self.portals: dict[str, Portal] = {}
        self.out = bytearray()

    # -- wire helpers --
    def _recv(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _read_message(self) -> tuple[bytes, bytes]:
        head = self._recv(5)
        (length,) = struct.unpack("!I", head[1:])
        return head[:1], self._recv(length - 4)

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        self.out += kind + struct.pack("!I", len(payload) + 4) + payload
        if len(self.out) > 65536:
            self.flush()

    def send_message(self, message: bytes) -> None:
        """A message already framed (type byte and length included)."""
        self.out += message
        if len(self.out) > 65536:
            self.flush()

    def flush(self) -> None:
        if self.out:
            self.sock.sendall(self.out)
            self.out.clear()

    def error(self, exc: PgError) -> None:
        fields = b"SERROR\0VERROR\0C" + exc.sqlstate.encode() + b"\0M" + str(exc).encode() + b"\0\0"
        self.send(b"E", fields)

    def notice(self, message: str) -> None:
        self.send(b"N", b"SNOTICE\0VNOTICE\0C00000\0M" + message.encode() + b"\0\0")

    def ready(self) -> None:
        self.send(b"Z", self.tx)
        self.flush()

    # -- lifecycle --
    def run(self) -> None:
        params = self._startup()
        if params is None:
            return
        self.database = params.get("database") or params.get("user", "")
        self._authenticate(params)
        self._admit()
        self._open()
        for key, value in (
            ("server_version", SERVER_VERSION),
            ("server_encoding", "UTF8"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("integer_datetimes", "on"),
            ("standard_conforming_strings", "on"),
            ("TimeZone", "UTC"),
            ("IntervalStyle", "postgres"),
            ("application_name", params.get("application_name", "")),
            ("is_superuser", "off"),
            ("session_authorization", self.user or ""),
        ):
            self.send(b"S", key.encode() + b"\0" + value.encode() + b"\0")
        self.send(b"K", struct.pack("!II", self.pid, self.secret))
        self.ready()
        log.info("login user=%s role=%s peer=%s session=%s", self.user, self.role, self.peer, self.id)
        self._loop()

    def _startup(self) -> dict[str, str] | None:
        while True:
            (length,) = struct.unpack("!I", self._recv(4))
            body = self._recv(length - 4)
            (code,) = struct.unpack("!I", body[:4])
            if code == SSL_REQUEST:
                if self.state.tls is None:
                    self.sock.sendall(b"N")
                else:
                    self.sock.sendall(b"S")
                    self.sock = self.state.tls.wrap_socket(self.sock, server_side=True)
                continue
            if code == GSS_REQUEST:
                self.sock.sendall(b"N")
                continue
            if code == CANCEL_REQUEST:
                pid, key = struct.unpack("!II", body[4:12])
                with self.state.lock:
                    target = self.state.sessions.get((pid, key))
                if target is not None:
                    target.cancel()
                    log.info("cancel request for session %s", target.id)
                return None
            if code != PROTOCOL_3:
                self.error(PgError(f"unsupported protocol {code >> 16}.{code & 0xFFFF}", "0A000"))
                self.flush()
                return None
            parts = body[4:].split(b"\0")
            return {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2) if parts[i]}

    def _fail_login(self, message: str, sqlstate: str = "28P01") -> None:
        log.warning("login refused user=%s peer=%s: %s", self.user, self.peer, message)
        self.error(PgError(message, sqlstate))
        self.flush()
        raise EOFError

    def _authenticate(self, params: dict[str, str]) -> None:
        """SCRAM-SHA-256 (RFC 5802/7677) against the user's stored verifier; unknown users run the same
        exchange against a throw-away verifier, so the answer does not tell who exists."""
        self.user = params.get("user", "")
        user = load_users(self.state.settings.sql_users).get(self.user)
        info = user.auth_info() if user else ScramMechanism(MECHANISM).make_auth_info(secrets.token_hex(16))
        self.send(b"R", struct.pack("!I", 10) + MECHANISM.encode() + b"\0\0")
        self.flush()
        kind, body = self._read_message()
        if kind != b"p":
            self._fail_login("expected SASLInitialResponse", "08P01")
        mech_name, rest = cstr(body)
        (n,) = struct.unpack("!i", rest[:4])
        if mech_name != MECHANISM:
            self._fail_login(f"unsupported SASL mechanism {mech_name!r}", "28000")
        scram = ScramExchange(*info)
        try:
            self.send(b"R", struct.pack("!I", 11) + scram.server_first(rest[4 : 4 + n].decode()).encode())
            self.flush()
            kind, body = self._read_message()
            if kind != b"p":
                self._fail_login("expected SASLResponse", "08P01")
            final = scram.server_final(body.decode())
        except ValueError:
            final = None
        if final is None or user is None:
            self._fail_login(f'password authentication failed for user "{self.user}"')
        self.send(b"R", struct.pack("!I", 12) + final.encode())
        self.send(b"R", struct.pack("!I", 0))
        self.role = user.role

    def _admit(self) -> None:
        """Connection caps, per user and in total (SQLSTATE 53300 like PostgreSQL)."""
        s = self.state.settings
        with self.state.lock:
            total = sum(self.state.per_user.values())
            mine = self.state.per_user.get(self.user, 0)
            if total >= s.sql_max_connections:
                reason = f"too many connections (server limit {s.sql_max_connections})"
            elif mine >= s.sql_max_connections_per_user:
                reason = (
                    f'too many connections for user "{self.user}" (limit {s.sql_max_connections_per_user})'
                )
            else:
                self.state.per_user[self.user] = mine + 1
                self.state.sessions[(self.pid, self.secret)] = self
                self.counted = True
                return
        self._fail_login(reason, "53300")

    def _open(self) -> None:
        s = self.state.settings
        self.db = role_database(s.warehouse_db, ROLES[self.role])
        old = self.con
        st = self.db.stat()
        self.con = connect(self.db, threads=s.sql_session_threads, memory_limit=s.sql_session_memory)
        self.snapshot = f"{st.st_ino}:{st.st_mtime_ns}"
        if old is not None:
            old.close()

    def _maybe_reopen(self) -> None:
        """Outside a transaction, pick up a refreshed role file (a new inode) for the next statement."""
        if self.tx != b"I" or self.db is None:
            return
        try:
            st = self.db.stat()
        except FileNotFoundError:
            return
        if f"{st.st_ino}:{st.st_mtime_ns}" != self.snapshot:
            self._open()

    def duckdb_sql(self, sql: str) -> str:
        """The statement as DuckDB runs it: psql's operators, and pg_catalog over this session's own copy
        (built at its first catalog query, again after a reopen)."""
        sql = pg_syntax(sql)
        rewritten = pgrewrite.rewrite(sql, self.user or "")
        if rewritten is None:
            return sql
        if self.catalog_of is not self.con:
            pgcatalog.install(self.con, self.user or "", self.database)
            self.catalog_of = self.con
        return rewritten

    def cancel(self) -> None:
        self.cancelled.set()
        con = self.con
        if con is not None:
            with contextlib.suppress(Exception):
                con.interrupt()

    def close(self) -> None:
        with self.state.lock:
            if self.counted:
                self.state.per_user[self.user] -= 1
                if not self.state.per_user[self.user]:
                    del self.state.per_user[self.user]
                self.state.sessions.pop((self.pid, self.secret), None)
                self.counted = False
        if self.con is not None:
            with contextlib.suppress(Exception):
                self.con.close()
            self.con = None
        with contextlib.suppress(OSError):
            self.sock.close()

    # -- messages --
    def _loop(self) -> None:
        skipping = False  # after an error in the extended protocol, until Sync
        while True:
            kind, body = self._read_message()
            if kind == b"X":
                return
            if kind == b"Q":
                self._simple(body.rstrip(b"\0").decode())
                self.ready()
                continue
            if kind == b"S":
                skipping = False
                self.ready()
                continue
            if kind == b"H":
                self.flush()
                continue
            if skipping:
                continue
            try:
                self._extended(kind, body)
            except PgError as exc:
                self.error(exc)
                skipping = True

    def _simple(self, sql: str) -> None:
        if not sql.strip():
            self.send(b"I")
            return
        try:
            statements = [s.query for s in self.con.extract_statements(sql)] or [sql]
        except duckdb.Error:
            statements = [sql]  # let execution report the error (or the catalog shim answer it)
        for stmt in statements:
            try:
                portal = Portal(stmt, [], self)
                portal.describe(send=False)
                if portal.columns:  # the simple protocol has no NoData: commands get CommandComplete only
                    portal._row_description()
                portal.execute(0)
            except PgError as exc:
                self.error(exc)
                return

    def _extended(self, kind: bytes, body: bytes) -> None:
        if kind == b"P":
            name, rest = cstr(body)
            query, rest = cstr(rest)
            (n,) = struct.unpack("!H", rest[:2])
            oids = list(struct.unpack(f"!{n}I", rest[2 : 2 + 4 * n]))
            self.prepared[name] = (query, oids)
            self.send(b"1")
        elif kind == b"B":
            portal_name, rest = cstr(body)
            stmt_name, rest = cstr(rest)
            if stmt_name not in self.prepared:
                raise PgError(f'prepared statement "{stmt_name}" does not exist', "26000")
            query, oids = self.prepared[stmt_name]
            params, result_formats = bind_params(rest, oids)
            if any(result_formats):
                raise PgError("binary result format is not supported; use text", "0A000")
            self.portals[portal_name] = Portal(query, params, self)
            self.send(b"2")
        elif kind == b"D":
            what, name = body[:1], cstr(body[1:])[0]
            if what == b"S":
                query, oids = self.prepared.get(name, (None, []))
                if query is None:
                    raise PgError(f'prepared statement "{name}" does not exist', "26000")
                nparams = max(oids and len(oids), count_params(query))
                types = [(oids[i] if i < len(oids) else 0) or 25 for i in range(nparams)]
                self.send(b"t", struct.pack(f"!H{len(types)}I", len(types), *types))
                Portal(query, [], self).describe_statement()
            else:
                portal = self.portals.get(name)
                if portal is None:
                    raise PgError(f'portal "{name}" does not exist', "34000")
                portal.describe(send=True)
        elif kind == b"E":
            name, rest = cstr(body)
            (limit,) = struct.unpack("!i", rest[:4])
            portal = self.portals.get(name)
            if portal is None:
                raise PgError(f'portal "{name}" does not exist', "34000")
            portal.execute(limit)
        elif kind == b"C":
            what, name = body[:1], cstr(body[1:])[0]
            (self.prepared if what == b"S" else self.portals).pop(name, None)
            self.send(b"3")
        else:
            raise PgError(f"unsupported message {kind!r}", "08P01")
