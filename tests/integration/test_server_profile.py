"""The server profile against the real PostgreSQL on loopback: Dagster runs and events stored there."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

psycopg2 = pytest.importorskip("psycopg2")

RUN = r"""
import sys
from dagster import DagsterInstance, asset, materialize
from warehouse.settings import load_settings

s = load_settings()
s.prepare()

@asset
def probe():
    return 1

instance = DagsterInstance.get()
print(type(instance.run_storage).__name__, type(instance.run_coordinator).__name__)
result = materialize([probe], instance=instance)
print(result.run_id)
"""


def test_server_profile_stores_runs_and_events_in_its_own_postgres_database(tmp_path):
    from warehouse.settings import drop_pg_database, load_settings

    home = tmp_path / "home"
    env = dict(os.environ) | {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "server"}
    env.pop("LAKEHOUSE_PG_URL", None)
    env.pop("DAGSTER_HOME", None)
    url = load_settings(env).pg_database_url
    try:
        out = subprocess.run(
            [sys.executable, "-c", RUN], env=env, capture_output=True, text=True, timeout=300, check=True
        ).stdout.split()
        assert out[:2] == ["PostgresRunStorage", "QueuedRunCoordinator"]
        run_id = out[2]
        con = psycopg2.connect(url)
        with con.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cur.fetchone() == ("SUCCESS",)
            cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (run_id,))
            assert cur.fetchone()[0] > 5
        con.close()
        assert not (Path(home) / "dagster" / "history").exists()  # nothing went to SQLite
    finally:
        drop_pg_database(url)
