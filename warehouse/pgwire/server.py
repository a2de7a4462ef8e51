"""The listening server: threads per connection, cancel requests, logging, start and stop."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.pgwire.audit import Audit
from warehouse.pgwire.deadlines import Deadlines
from warehouse.pgwire.session import Session
from warehouse.pgwire.wire import log
from warehouse.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    audit: Audit
    tls: ssl.SSLContext | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: dict[tuple[int, int], Session] = field(default_factory=dict)
    per_user: dict[str, int] = field(default_factory=dict)
    deadlines: Deadlines = field(default_factory=Deadlines)  # every statement's timeout, on one thread


class _TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128  # listen backlog: socketserver's 5 drops SYNs when a team connects at once
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
