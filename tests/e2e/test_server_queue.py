"""The server profile's run queue: with LAKEHOUSE_MAX_DAILY_RUNS=1 the daemon starts daily_job runs one at
a time (real daemon, real runs in PostgreSQL)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.soak
BIN = Path(sys.executable).parent
DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_queue_runs_at_most_the_daily_limit_at_once(tmp_path):
    import psycopg2

    from warehouse.settings import load_settings

    env = dict(os.environ) | {
        "LAKEHOUSE_HOME": str(tmp_path / "home"),
        "LAKEHOUSE_PROFILE": "server",
        "LAKEHOUSE_MAX_DAILY_RUNS": "1",
        "LAKEHOUSE_PARTITIONS_START": "2026-11-01",
    }
    env.pop("LAKEHOUSE_PG_URL", None)
    s = load_settings(env)
    env |= s.as_env()
    up = [str(BIN / "lakehouse"), "server", "up", "--webserver-port", str(_free_port())]
    try:
        subprocess.run(up + ["--objectstore-port", str(_free_port())], env=env, check=True, timeout=300)
        launches = [
            subprocess.Popen(
                [
                    str(BIN / "dagster"),
                    "job",
                    "launch",
                    "-m",
                    "orchestration.definitions",
                    "-j",
                    "daily_job",
                    "--tags",
                    json.dumps({"dagster/partition": day}),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for day in DAYS
        ]
        assert [p.wait(timeout=300) for p in launches] == [0, 0, 0]
        con = psycopg2.connect(s.pg_database_url)
        con.autocommit = True
        deadline, waited = time.monotonic() + 900, False
        while True:
            with con.cursor() as cur:
                cur.execute("SELECT status, start_time, end_time FROM runs WHERE pipeline_name = 'daily_job'")
                runs = cur.fetchall()
            statuses = [r[0] for r in runs]
            waited = waited or ("QUEUED" in statuses and "STARTED" in statuses)
            if len(runs) == 3 and all(r[0] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
                break
            assert time.monotonic() < deadline, runs
            time.sleep(2)
        con.close()
        assert waited  # a run waited in the queue while another ran
        spans = sorted((r[1], r[2]) for r in runs)
        assert all(a is not None and b is not None for a, b in spans), spans
        assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1)), spans  # one at a time
    finally:
        subprocess.run([str(BIN / "lakehouse"), "server", "down"], env=env, timeout=300)
        base, name = s.pg_database_url.rsplit("/", 1)
        con = psycopg2.connect(base + "/postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.close()
