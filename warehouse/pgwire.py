"""`lakehouse serve-sql`: a PostgreSQL wire-protocol endpoint over the role databases.

Why our own protocol layer (about 600 lines over the stdlib) rather than a library: `riffq` (0.1.11) ships
no wheel for our Python and its source build fetches a Rust toolchain and crates from the network;
`buenavista` (0.5.0, last release 2024) keeps clear-text passwords and speaks MD5 only, with no TLS and no
cancel. The subset psql, psycopg, DBeaver and Superset need is small and stable (protocol 3.0: startup,
SCRAM-SHA-256 via `scramp`, simple and extended query, cancel, TLS), and owning it lets every statement
pass through one place that enforces limits and writes the audit trail.

Each connection is a thread holding one sealed DuckDB session on its role's file
(`warehouse.serving.connect`: no file access, grade-limited columns, masked personal data). A statement
runs under a timer that calls `interrupt()` on that session only; a runaway query is cancelled and the
others carry on. Consistency: a session keeps the file it opened (a refresh renames a new file over it,
so the open one stays intact); between statements outside a transaction, a session whose file was
replaced reopens it, so every statement sees one whole snapshot and the next one sees the new version.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import decimal
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import socket
import socketserver
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
from scramp import ScramMechanism

from warehouse.access import ROLES, role_database
from warehouse.registry import QUERY_AUDIT
from warehouse.serving import connect
from warehouse.settings import Settings
from warehouse.sqlusers import MECHANISM, load_users
from warehouse.storage import Lake

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


class PgError(Exception):
    """An error sent to the client as an ErrorResponse."""

    def __init__(self, message: str, sqlstate: str = "XX000", status: str = "error") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.status = status  # for the audit


def tables_touched(sql: str) -> list[str]:
    """Tables a statement references (DuckDB's parser; CTE names excluded), as schema.table."""
    try:
        names = duckdb.get_table_names(sql, qualified=True)
    except duckdb.Error:
        return []
    return sorted({n.split(" AS ", 1)[0].replace('"', "") for n in names})


# ---- audit ---------------------------------------------------------------------------------------


class Audit:
    """catalog.query_audit, buffered: one Delta commit every few seconds or `batch` statements."""

    def __init__(self, lake: Lake, flush_s: float, batch: int = 500) -> None:
        self.lake, self.flush_s, self.batch = lake, flush_s, batch
        self._rows: list[dict] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.run_id = f"sqlserve-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._thread = threading.Thread(target=self._loop, name="audit-flush", daemon=True)
        self._thread.start()

    def record(self, row: dict) -> None:
        with self._lock:
            self._rows.append(row)
            if len(self._rows) >= self.batch:
                self._wake.set()

    def flush(self) -> int:
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            self.lake.append(QUERY_AUDIT, pl.DataFrame(rows, schema=QUERY_AUDIT.schema), run_id=self.run_id)
        except Exception as exc:  # keep them for the next try; never lose an audit row silently
            log.error("audit flush failed (%s rows kept): %s", len(rows), exc)
            with self._lock:
                self._rows[:0] = rows
            return 0
        return len(rows)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()


# ---- SCRAM-SHA-256 ------------------------------------------------------------------------------


class ScramExchange:
    """The server side of SCRAM-SHA-256 without channel binding, as PostgreSQL runs it.

    Written out (RFC 5802 section 3) because PostgreSQL clients send an empty user name inside SCRAM (the
    user is in the startup packet) and scramp's server refuses that; scramp still makes the verifiers.
    """

    def __init__(self, salt: bytes, stored_key: bytes, server_key: bytes, iterations: int) -> None:
        self.salt, self.stored_key, self.server_key, self.iterations = (
            salt,
            stored_key,
            server_key,
            iterations,
        )

    def server_first(self, client_first: str) -> str:
        gs2, _, bare = client_first.partition(",")
        if gs2 not in ("n", "y"):  # "p=..." asks for channel binding, which we do not offer
            raise ValueError("channel binding not supported")
        authzid, _, bare = bare.partition(",")
        attrs = dict(a.split("=", 1) for a in bare.split(",") if "=" in a)
        if "r" not in attrs:
            raise ValueError("no client nonce")
        self.gs2_header = f"{gs2},{authzid},"
        self.client_first_bare = bare
        self.nonce = attrs["r"] + base64.b64encode(secrets.token_bytes(18)).decode()
        self.first = f"r={self.nonce},s={base64.b64encode(self.salt).decode()},i={self.iterations}"
        return self.first

    def server_final(self, client_final: str) -> str | None:
        """The server's signature when the client's proof matches the verifier, else None."""
        without_proof, _, proof_b64 = client_final.rpartition(",p=")
        attrs = dict(a.split("=", 1) for a in without_proof.split(",") if "=" in a)
        if attrs.get("r") != self.nonce or base64.b64decode(attrs.get("c", "")) != self.gs2_header.encode():
            return None
        auth_message = f"{self.client_first_bare},{self.first},{without_proof}".encode()
        proof = base64.b64decode(proof_b64)
        signature = hmac.new(self.stored_key, auth_message, hashlib.sha256).digest()
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=False))
        if len(proof) != len(signature) or not hmac.compare_digest(
            hashlib.sha256(client_key).digest(), self.stored_key
        ):
            return None
        server_signature = hmac.new(self.server_key, auth_message, hashlib.sha256).digest()
        return "v=" + base64.b64encode(server_signature).decode()


# ---- the server ----------------------------------------------------------------------------------


@dataclass
class ServerState:
    settings: Settings
    audit: Audit
    tls: ssl.SSLContext | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: dict[tuple[int, int], Session] = field(default_factory=dict)
    per_user: dict[str, int] = field(default_factory=dict)


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    state: ServerState


class SqlServer:
    """The endpoint: `serve_forever()` until `shutdown()` (SIGTERM in the CLI)."""

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        tls = None
        if settings.sql_tls_cert and settings.sql_tls_key:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(settings.sql_tls_cert, settings.sql_tls_key)
        self.state = ServerState(settings, Audit(settings.open_lake(), settings.sql_audit_flush_s), tls)
        self.server = _TCPServer((host, port), _Handler, bind_and_activate=True)
        self.server.state = self.state
        self.address = self.server.server_address

    def serve_forever(self) -> None:
        self.server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """Stop accepting, cancel running statements, flush the audit."""
        self.server.shutdown()
        with self.state.lock:
            sessions = list(self.state.sessions.values())
        for s in sessions:
            s.cancel()
        self.server.server_close()
        self.state.audit.close()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(state, sock, f"{self.client_address[0]}:{self.client_address[1]}")
        try:
            session.run()
        except (ConnectionError, EOFError, ssl.SSLError, OSError):
            pass
        except Exception:
            log.exception("session %s crashed", session.id)
        finally:
            session.close()


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
        mech_name, rest = _cstr(body)
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
            name, rest = _cstr(body)
            query, rest = _cstr(rest)
            (n,) = struct.unpack("!H", rest[:2])
            oids = list(struct.unpack(f"!{n}I", rest[2 : 2 + 4 * n]))
            self.prepared[name] = (query, oids)
            self.send(b"1")
        elif kind == b"B":
            portal_name, rest = _cstr(body)
            stmt_name, rest = _cstr(rest)
            if stmt_name not in self.prepared:
                raise PgError(f'prepared statement "{stmt_name}" does not exist', "26000")
            query, oids = self.prepared[stmt_name]
            params, result_formats = _bind_params(rest, oids)
            if any(result_formats):
                raise PgError("binary result format is not supported; use text", "0A000")
            self.portals[portal_name] = Portal(query, params, self)
            self.send(b"2")
        elif kind == b"D":
            what, name = body[:1], _cstr(body[1:])[0]
            if what == b"S":
                query, oids = self.prepared.get(name, (None, []))
                if query is None:
                    raise PgError(f'prepared statement "{name}" does not exist', "26000")
                nparams = max(oids and len(oids), _count_params(query))
                types = [(oids[i] if i < len(oids) else 0) or 25 for i in range(nparams)]
                self.send(b"t", struct.pack(f"!H{len(types)}I", len(types), *types))
                Portal(query, [], self).describe_statement()
            else:
                portal = self.portals.get(name)
                if portal is None:
                    raise PgError(f'portal "{name}" does not exist', "34000")
                portal.describe(send=True)
        elif kind == b"E":
            name, rest = _cstr(body)
            (limit,) = struct.unpack("!i", rest[:4])
            portal = self.portals.get(name)
            if portal is None:
                raise PgError(f'portal "{name}" does not exist', "34000")
            portal.execute(limit)
        elif kind == b"C":
            what, name = body[:1], _cstr(body[1:])[0]
            (self.prepared if what == b"S" else self.portals).pop(name, None)
            self.send(b"3")
        else:
            raise PgError(f"unsupported message {kind!r}", "08P01")


def _cstr(b: bytes) -> tuple[str, bytes]:
    i = b.index(b"\0")
    return b[:i].decode(), b[i + 1 :]


def _count_params(query: str) -> int:
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


def _bind_params(rest: bytes, oids: list[int]) -> tuple[list, list[int]]:
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


# What drivers and GUI clients (JDBC/DBeaver, Superset) set on connect; DuckDB has no such settings and
# the session's configuration is locked, so these are acknowledged and ignored.
CLIENT_SETTING = re.compile(
    r"^\s*SET\s+(SESSION\s+|LOCAL\s+)?(extra_float_digits|application_name|client_encoding|datestyle|"
    r"intervalstyle|statement_timeout|client_min_messages|bytea_output|lc_\w+|standard_conforming_strings)\b",
    re.I,
)


class Portal:
    """One statement with its parameters; described (run) once, then its rows sent on Execute."""

    def __init__(self, sql: str, params: list, session: Session) -> None:
        self.sql, self.params, self.session = sql, params, session
        self.columns: list[tuple[str, str]] | None = None
        self.rows: list[tuple] | None = None
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
                self.columns, self.rows = shim
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

        timer = threading.Timer(timeout_s, _expire)
        timer.daemon = True
        timer.start()
        try:
            cur = s.con.execute(pg_syntax(self.sql), self.params or None)
            desc = cur.description or []
            self.columns = [(d[0], str(d[1])) for d in desc]
            self.rows = cur.fetchmany(max_rows + 1) if desc else []
        except duckdb.InterruptException:
            if timed_out.is_set():
                raise PgError(
                    f"canceling statement due to statement timeout ({timeout_s:g} s)", "57014", "timeout"
                ) from None
            raise PgError("canceling statement due to user request", "57014", "cancelled") from None
        except duckdb.Error as exc:
            raise PgError(_duck_message(exc), _sqlstate(exc)) from None
        finally:
            timer.cancel()
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
            rel = self.session.con.sql(self.sql) if not _count_params(self.sql) else None
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
        for row in self.rows[self.sent : end]:
            payload = bytearray(struct.pack("!H", len(row)))
            for v in row:
                b = text_value(v)
                payload += struct.pack("!i", -1) if b is None else struct.pack("!i", len(b)) + b
            s.send(b"D", bytes(payload))
        self.sent = end
        if end < len(self.rows):
            s.send(b"s")  # PortalSuspended
            return
        s.send(b"C", f"SELECT {len(self.rows)}\0".encode())
        self.done = True


def _duck_message(exc: duckdb.Error) -> str:
    return str(exc).split("\n\nLINE", 1)[0].strip()


def _sqlstate(exc: duckdb.Error) -> str:
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


# ---- pg_catalog for psql and GUI clients -----------------------------------------------------------

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


def configure_logging(logs: Path) -> Path:
    """Log to LAKEHOUSE_HOME/logs/sqlserve.log (logins, refusals, cancels; never SQL text or secrets)."""
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / "sqlserve.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return path


@contextlib.contextmanager
def running(settings: Settings, host: str, port: int) -> Iterator[SqlServer]:
    """A server on a background thread (benchmarks); stopped and the audit flushed on exit."""
    server = SqlServer(settings, host, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=10)
