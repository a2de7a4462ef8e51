"""The node's SQLite home opened by several node processes at once (stop 18's CI: two nodes on one new
home, one died at start with "database is locked"; with more, "duplicate column name")."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
from pathlib import Path

from national_node.storage import DB_FILE, NodeStore


def _open_at(home: str, start: float, results: mp.Queue) -> None:
    while time.time() < start:
        pass
    try:
        NodeStore(Path(home)).close()
        results.put("ok")
    except Exception as error:  # reported to the parent, which asserts on it
        results.put(repr(error))


def test_node_processes_opening_one_new_home_at_once_all_start(tmp_path):
    ctx = mp.get_context("spawn")
    failures: list[str] = []
    for attempt in range(6):
        home = tmp_path / f"home{attempt}"
        results = ctx.Queue()
        start = time.time() + 1.5  # spawned interpreters are all up by then
        procs = [ctx.Process(target=_open_at, args=(str(home), start, results)) for _ in range(4)]
        for p in procs:
            p.start()
        failures += [r for r in (results.get(timeout=60) for _ in procs) if r != "ok"]
        for p in procs:
            p.join(10)
        with sqlite3.connect(home / DB_FILE) as con:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            columns = [r[1] for r in con.execute("PRAGMA table_info(batches)")]
        assert columns.count("cells_noisy") == 1
    assert failures == []


def test_an_older_home_gets_its_added_columns_once(tmp_path):
    with sqlite3.connect(tmp_path / DB_FILE) as con:
        con.execute(
            "CREATE TABLE batches (receipt_id TEXT PRIMARY KEY, node TEXT, idempotency_key TEXT, batch_id TEXT,"
            " period TEXT, version INTEGER, schema_version TEXT, payload_sha256 TEXT, rows INTEGER,"
            " cells_suppressed INTEGER, key_id TEXT, manifest TEXT, payload BLOB, stored_at TEXT)"
        )
    NodeStore(tmp_path).close()
    NodeStore(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILE) as con:
        assert [r[1] for r in con.execute("PRAGMA table_info(batches)")].count("cells_noisy") == 1
