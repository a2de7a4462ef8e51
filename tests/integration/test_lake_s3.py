"""The lake on S3-compatible object storage: the project's own object store (moto) on loopback,
concurrent commits from separate processes, and polars and DuckDB reading the tables over S3."""

import datetime as dt
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse.registry import QUARANTINE_TELEMETRY
from warehouse.serving.delta import DELTA_EXTENSION, HTTPFS_EXTENSION, duckdb_s3_secret
from warehouse.settings import object_store_options
from warehouse.storage import Lake

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
DAY = dt.date(2026, 11, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def storage_options(endpoint: str) -> dict[str, str]:
    """The options the settings derive from the environment for this endpoint and keys."""
    env = {"LAKEHOUSE_S3_ENDPOINT": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    return object_store_options(env)


@pytest.fixture(scope="module")
def objectstore():
    port = _free_port()
    proc = subprocess.Popen(
        [LAKEHOUSE, "objectstore", "serve", "--port", str(port), "--bucket", "lake"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until the server and its bucket are up
        assert line.startswith(f"ready http://127.0.0.1:{port}"), line
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def rows(writer: str, batch: int, n: int = 3) -> pl.DataFrame:
    """Rows of quarantine.telemetry (partitioned by day) whose reason names their writer and commit."""
    schema = QUARANTINE_TELEMETRY.schema
    df = pl.DataFrame({c: [None] * n for c in schema}, schema=schema)
    return df.with_columns(day=pl.lit(DAY), reason=pl.lit(f"{writer}-{batch}"))


WRITER = r"""
import sys, time
from warehouse.registry import QUARANTINE_TELEMETRY
from warehouse.storage import Lake
from tests.integration.test_lake_s3 import rows, storage_options
from pathlib import Path
uri, endpoint, writer, commits, go = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
lake = Lake(uri, storage_options(endpoint))
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
for i in range(commits):
    lake.append(QUARANTINE_TELEMETRY, rows(writer, i), run_id=f"{writer}-{i}")
"""


def test_staged_shards_commit_as_one_partition_replace_and_read_back_through_polars_and_duckdb(
    objectstore,
):
    lake = Lake("s3://lake/staged", storage_options(objectstore))
    lake.append(QUARANTINE_TELEMETRY, rows("old", 0), run_id="old")
    staged = [
        f
        for i in range(2)
        for f in lake.stage_files(QUARANTINE_TELEMETRY, DAY, rows("shard", i), run_id="r1", tag=f"s{i}")
    ]
    orphan = lake.stage_files(QUARANTINE_TELEMETRY, DAY, rows("dead", 9), run_id="r0", tag="dead")
    assert lake.read(QUARANTINE_TELEMETRY)["reason"].to_list() == ["old-0"] * 3  # staged: invisible
    assert lake.remove_orphans(QUARANTINE_TELEMETRY, DAY, min_age_seconds=0) == 3  # 2 staged + 1 dead
    assert lake.read(QUARANTINE_TELEMETRY)["reason"].to_list() == ["old-0"] * 3  # committed file kept
    staged = [
        f
        for i in range(2)
        for f in lake.stage_files(QUARANTINE_TELEMETRY, DAY, rows("shard", i), run_id="r1", tag=f"s{i}")
    ]
    assert orphan  # (deleted above, never committed)
    lake.commit_partition(QUARANTINE_TELEMETRY, DAY, staged, run_id="r1")
    got = lake.read(QUARANTINE_TELEMETRY, partition=DAY)["reason"].sort().to_list()
    assert got == ["shard-0"] * 3 + ["shard-1"] * 3

    con = duckdb.connect(config={"allow_unsigned_extensions": False})
    con.execute(f"LOAD '{HTTPFS_EXTENSION}'")
    con.execute(f"LOAD '{DELTA_EXTENSION}'")
    con.execute(duckdb_s3_secret(storage_options(objectstore)))
    sql = f"SELECT reason, count(*) FROM delta_scan('{lake.table_uri(QUARANTINE_TELEMETRY)}') GROUP BY 1 ORDER BY 1"
    assert con.execute(sql).fetchall() == [("shard-0", 3), ("shard-1", 3)]


def test_two_processes_committing_to_one_table_at_once_lose_no_commit(objectstore, tmp_path):
    uri, commits = "s3://lake/concurrent", 4
    lake = Lake(uri, storage_options(objectstore))
    lake.append(QUARANTINE_TELEMETRY, rows("seed", 0), run_id="seed")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, uri, objectstore, w, str(commits), str(go)],
            cwd=Path(__file__).parents[2],
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in ("a", "b")
    ]
    assert [p.stdout.readline().strip() for p in procs] == ["ready", "ready"]
    go.touch()  # both children have imported: they commit at the same moment
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    tags = lake.read(QUARANTINE_TELEMETRY)["reason"].value_counts().sort("reason")
    expected = sorted(["seed-0"] + [f"{w}-{i}" for w in "ab" for i in range(commits)])
    assert tags["reason"].to_list() == expected  # every commit of both writers is in the table
    assert set(tags["count"].to_list()) == {3}
    assert lake.version(QUARANTINE_TELEMETRY) == 2 * commits  # the seed is version 0: a version per commit
    ops = [h.get("run_id") for h in lake.table(QUARANTINE_TELEMETRY).history()]
    assert sorted(o for o in ops if o) == sorted(
        ["seed"] + [f"{w}-{i}" for w in "ab" for i in range(commits)]
    )
