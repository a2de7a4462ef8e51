"""The node's own storage: one SQLite file in its home (batches per province, period and version; nonces).

A batch is stored once per Idempotency-Key: a re-delivery gets the stored receipt back, and another
payload under a key or a version already taken is a conflict, never an overwrite. The current figures of
a period are its highest version, whatever order the versions arrived in.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

from national_node.errors import Rejected

DB_FILE = "national_node.sqlite3"

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS batches (
    receipt_id      TEXT PRIMARY KEY,
    node            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    batch_id        TEXT NOT NULL,
    period          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    schema_version  TEXT NOT NULL,
    payload_sha256  TEXT NOT NULL,
    rows            INTEGER NOT NULL,
    cells_suppressed INTEGER NOT NULL,
    key_id          TEXT NOT NULL,
    manifest        TEXT NOT NULL,
    payload         BLOB NOT NULL,
    stored_at       TEXT NOT NULL,
    UNIQUE (node, idempotency_key),
    UNIQUE (node, period, version)
)""",
    """
CREATE TABLE IF NOT EXISTS nonces (
    node    TEXT NOT NULL,
    nonce   TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (node, nonce)
)""",
    "CREATE INDEX IF NOT EXISTS nonces_seen ON nonces (seen_at)",
)
# Columns added after the first release of the schema: (name, declaration), added to an older file on open.
_ADDED = (("cells_noisy", "INTEGER NOT NULL DEFAULT 0"),)  # withheld entries with a marked noisy estimate

_RECEIPT_COLS = (
    "receipt_id, node, batch_id, period, version, payload_sha256, rows, cells_suppressed, stored_at"
)


def _is_locked(error: BaseException) -> bool:
    """SQLite's BUSY or LOCKED (another process holds the file), by error code rather than message."""
    return getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@dataclass(frozen=True)
class Batch:
    """A verified batch, ready to store."""

    node: str
    idempotency_key: str
    batch_id: str
    period: str
    version: int
    schema_version: str
    payload_sha256: str
    rows: int
    cells_suppressed: int
    key_id: str
    manifest: str
    payload: bytes = field(repr=False)
    cells_noisy: int = 0


class NodeStore:
    """SQLite in WAL mode; every write is one IMMEDIATE transaction under a process lock."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.path = self.home / DB_FILE
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._con.row_factory = sqlite3.Row
        self._prepare()

    @retry(
        retry=retry_if_exception(_is_locked),
        stop=stop_after_delay(30),
        wait=wait_random_exponential(multiplier=0.01, max=0.5),
        reraise=True,
    )
    def _prepare(self) -> None:
        """WAL mode, schema and added columns, safe when several node processes open one new home at once.

        Switching to WAL answers "locked" at once, without waiting, while another process holds the file,
        so it is retried; the schema and its added columns go in one IMMEDIATE transaction, so two
        processes never both add a column.
        """
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                self._con.execute(statement)
            have = {r["name"] for r in self._con.execute("PRAGMA table_info(batches)")}
            for name, decl in _ADDED:
                if name not in have:
                    self._con.execute(f"ALTER TABLE batches ADD COLUMN {name} {decl}")
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def close(self) -> None:
        self._con.close()

    def remember_nonce(self, node: str, nonce: str, now: float, keep_seconds: float) -> bool:
        """Record a nonce; False if it was seen before. Nonces older than any acceptable timestamp are pruned."""
        with self._lock:
            self._con.execute("DELETE FROM nonces WHERE seen_at < ?", (now - keep_seconds,))
            cur = self._con.execute(
                "INSERT INTO nonces (node, nonce, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (node, nonce, now),
            )
            return cur.rowcount == 1

    def _receipt(self, row: sqlite3.Row, *, duplicate: bool) -> dict:
        latest = self._con.execute(
            "SELECT max(version) FROM batches WHERE node = ? AND period = ?", (row["node"], row["period"])
        ).fetchone()[0]
        return dict(row) | {
            "duplicate": duplicate,
            "current": row["version"] == latest,
            "latest_version": latest,
        }

    def store(self, batch: Batch, now: dt.datetime) -> dict:
        """Store a batch once; a re-delivery (same key, same payload) returns the stored receipt."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                receipt = self._store(batch, now)
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")
            return receipt

    def _store(self, batch: Batch, now: dt.datetime) -> dict:
        row = self._con.execute(
            f"SELECT {_RECEIPT_COLS} FROM batches WHERE node = ? AND idempotency_key = ?",
            (batch.node, batch.idempotency_key),
        ).fetchone()
        if row is not None:
            if row["payload_sha256"] != batch.payload_sha256:
                raise Rejected(
                    409,
                    "idempotency_conflict",
                    f"Idempotency-Key {batch.idempotency_key} was used for another payload",
                    latest_version=self._latest_version(batch.node, batch.period),
                )
            return self._receipt(row, duplicate=True)
        taken = self._con.execute(
            "SELECT batch_id FROM batches WHERE node = ? AND period = ? AND version = ?",
            (batch.node, batch.period, batch.version),
        ).fetchone()
        if taken is not None:
            raise Rejected(
                409,
                "version_conflict",
                f"{batch.period} version {batch.version} is already stored as {taken[0]}",
                latest_version=self._latest_version(batch.node, batch.period),
            )
        receipt_id = f"rcpt-{uuid.uuid4().hex}"
        self._con.execute(
            "INSERT INTO batches (receipt_id, node, idempotency_key, batch_id, period, version, schema_version, "
            "payload_sha256, rows, cells_suppressed, key_id, manifest, payload, stored_at, cells_noisy) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                receipt_id,
                batch.node,
                batch.idempotency_key,
                batch.batch_id,
                batch.period,
                batch.version,
                batch.schema_version,
                batch.payload_sha256,
                batch.rows,
                batch.cells_suppressed,
                batch.key_id,
                batch.manifest,
                batch.payload,
                now.isoformat(),
                batch.cells_noisy,
            ),
        )
        row = self._con.execute(
            f"SELECT {_RECEIPT_COLS} FROM batches WHERE receipt_id = ?", (receipt_id,)
        ).fetchone()
        return self._receipt(row, duplicate=False)

    def _latest_version(self, node: str, period: str) -> int | None:
        return self._con.execute(
            "SELECT max(version) FROM batches WHERE node = ? AND period = ?", (node, period)
        ).fetchone()[0]

    def versions(self, node: str, period: str) -> list[dict]:
        """Every stored version of a period, oldest first (the last one is current)."""
        with self._lock:
            rows = self._con.execute(
                f"SELECT {_RECEIPT_COLS} FROM batches WHERE node = ? AND period = ? ORDER BY version",
                (node, period),
            ).fetchall()
        return [dict(r) for r in rows]

    def cells_noisy(self, receipt_id: str) -> int:
        """Withheld entries of a stored batch that carry a marked noisy estimate."""
        with self._lock:
            row = self._con.execute(
                "SELECT cells_noisy FROM batches WHERE receipt_id = ?", (receipt_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def payload(self, receipt_id: str) -> tuple[bytes, str]:
        with self._lock:
            row = self._con.execute(
                "SELECT payload, manifest FROM batches WHERE receipt_id = ?", (receipt_id,)
            ).fetchone()
        return bytes(row["payload"]), row["manifest"]

    def counts(self, node: str | None = None) -> dict:
        """Batches, distinct periods and the provinces holding data; of one province when `node` is given."""
        where, args = ("WHERE node = ?", (node,)) if node else ("", ())
        with self._lock:
            batches, periods = self._con.execute(
                f"SELECT count(*), count(DISTINCT node || '/' || period) FROM batches {where}", args
            ).fetchone()
            provinces = [r[0] for r in self._con.execute(f"SELECT DISTINCT node FROM batches {where}", args)]
        return {"batches": batches, "periods": periods, "provinces": sorted(provinces)}
