"""catalog.query_audit: one row per statement (user, role, time, duration, rows, tables touched, status,
SQL hash; never the values), committed in batches."""

from __future__ import annotations

import os
import threading
import uuid

import duckdb
import polars as pl

from warehouse.pgwire.wire import log
from warehouse.registry import QUERY_AUDIT
from warehouse.storage import Lake


def tables_touched(sql: str) -> list[str]:
    """Tables a statement references (DuckDB's parser; CTE names excluded), as schema.table."""
    try:
        names = duckdb.get_table_names(sql, qualified=True)
    except duckdb.Error:
        return []
    return sorted({n.split(" AS ", 1)[0].replace('"', "") for n in names})


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
