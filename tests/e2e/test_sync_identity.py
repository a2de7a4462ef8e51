"""The sync sends this home's figures, to the node it names, and finishes what the node already holds.

A copied home reads its own tables; a new node starts from nothing; a replayed request and a batch stored
after the client gave up end acknowledged without a duplicate; a kill -9 mid-attempt never leaves fewer
attempts on record than the node received; the directory shows the days synced right after a sync.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from tests.e2e.test_sync_cli import CliNode, cli, env_for
from tests.e2e.test_sync_node import DAYS, KEY, NodeProcess, Province, config
from warehouse.catalog.directory import build_directory
from warehouse.registry import CATALOG_COLUMN, CATALOG_DATASET, PLAN_PROGRESS, SYNC_LEDGER
from warehouse.serving.refresh import refresh_views
from warehouse.settings import demo_key

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def home_with(root: Path, days: list[dt.date]) -> Province:
    """A home with built days, its warehouse views and its demo sync key."""
    province = Province(root)
    province.build_all(days)
    refresh_views(root / "warehouse.duckdb", province.lake)
    demo_key(root)
    return province


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


# ---- a copied or moved home ----------------------------------------------------------------------
def test_a_moved_home_sends_its_own_figures_from_the_first_call(tmp_path):
    original = home_with(tmp_path / "original", DAYS[:2])
    shutil.copytree(tmp_path / "original", tmp_path / "moved")
    moved = Province(tmp_path / "moved")
    moved.build_day(DAYS[0], revision=7)  # the copy's figures differ from the original's from now on
    assert moved.current(DAYS[0]).payload_sha256 != original.current(DAYS[0]).payload_sha256
    node = CliNode(tmp_path / "moved").start().wait_up()
    try:
        out = cli(tmp_path / "moved", "sync", "--until", DAYS[1].isoformat(), "--node", node.url)
        assert out.returncode == 0, out.stdout + out.stderr
        period = node.period(DAYS[0])
        assert [v["version"] for v in period["versions"]] == [1]  # no false restatement either
        assert period["current"]["payload_sha256"] == moved.current(DAYS[0]).payload_sha256
    finally:
        node.stop()


def test_a_moved_home_sends_its_own_figures_through_the_dagster_asset(tmp_path):
    from dagster import AssetKey, DagsterInstance, materialize

    from assets.resources import LakeResource, WarehouseResource
    from assets.sync.assets import NationalNodeResource, sync_batches

    home_with(tmp_path / "original", DAYS[:1])
    shutil.copytree(tmp_path / "original", tmp_path / "moved")
    moved = Province(tmp_path / "moved")
    moved.build_day(DAYS[0], revision=9)
    key = demo_key(tmp_path / "moved")  # the key the CLI uses: os.environ may hold another home's
    node = NodeProcess(tmp_path / "node", key.node_keys()).start().wait_up()
    try:
        result = materialize(
            [sync_batches],
            partition_key=DAYS[0].isoformat(),
            resources={
                "lake": LakeResource(home=str(tmp_path / "moved")),
                "warehouse": WarehouseResource(database=str(tmp_path / "moved" / "warehouse.duckdb")),
                "national_node": NationalNodeResource(url=node.url, key_id=key.key_id, secret=key.secret),
            },
            instance=DagsterInstance.ephemeral(),
        )
        assert result.success
        assert AssetKey(SYNC_LEDGER.asset_key) in {
            e.asset_key for e in result.get_asset_materialization_events()
        }
        assert node.period(DAYS[0])["current"]["payload_sha256"] == moved.current(DAYS[0]).payload_sha256
    finally:
        node.stop()


# ---- node identity -------------------------------------------------------------------------------
def test_a_new_node_starts_from_nothing_and_the_cli_says_what_it_will_send(tmp_path):
    home = tmp_path / "home"
    province = home_with(home, DAYS[:2])
    first = CliNode(home).start().wait_up()
    second = NodeProcess(tmp_path / "second", demo_key(home).node_keys()).start().wait_up()
    try:
        out = cli(home, "sync", "--until", DAYS[1].isoformat(), "--node", first.url)
        assert out.returncode == 0 and out.stdout.count("acknowledged") == 2, out.stdout
        assert "new at this node: 2" in out.stdout
        out = cli(home, "sync", "--until", DAYS[1].isoformat(), "--node", second.url)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"to {second.url}" in out.stdout and "new at this node: 2" in out.stdout
        assert out.stdout.count("acknowledged") == 2 and "unchanged" not in out.stdout
        assert second.batches() == 2 and second.period(DAYS[0])["current_version"] == 1
        again = cli(home, "sync", "--until", DAYS[1].isoformat(), "--node", second.url)
        assert "sent again only if restated: 2" in again.stdout and again.stdout.count("unchanged") == 2
    finally:
        first.stop()
        second.stop()
    acked = province.ledger().filter(pl.col("status") == "acknowledged")
    assert sorted(acked["node"].unique()) == sorted([first.url, second.url])
    assert set(acked["node_id"]) == {"national"} and set(acked["channel"]) == {"national"}
    assert acked.height == 4 and acked.select("node", "channel", "batch_id").n_unique() == 4


# ---- replays, timeouts, kill -9 -----------------------------------------------------------------
@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    node = NodeProcess(tmp_path_factory.mktemp("faulty") / "home", f"37={KEY}", faults=True).start()
    yield node.wait_up()
    node.stop()


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    return Province(tmp_path_factory.mktemp("province")).build_all(DAYS)


def test_a_replayed_nonce_is_re_signed_and_acknowledged_in_the_same_run(faulty, province):
    before = faulty.batches()
    faulty.inject("dup")  # the network delivers the request twice; the answer the client sees is the 409
    [outcome] = province.sync([DAYS[0]], config(faulty))
    assert outcome.status == "acknowledged" and outcome.duplicate and outcome.attempts == 2
    assert faulty.batches() == before + 1
    assert [v["version"] for v in faulty.period(DAYS[0])["versions"]] == [1]


def test_a_replay_on_the_last_attempt_is_still_confirmed_in_the_same_run(faulty, province):
    before = faulty.batches()
    faulty.inject("dup")
    [outcome] = province.sync([DAYS[3]], config(faulty, max_attempts=1))
    assert outcome.status == "acknowledged" and outcome.duplicate and outcome.attempts == 2, outcome
    assert faulty.batches() == before + 1
    row = province.ledger().filter(pl.col("period") == DAYS[3].isoformat()).row(0, named=True)
    assert row["status"] == "acknowledged" and row["attempts"] == 2


def test_a_batch_stored_after_the_client_timed_out_is_acknowledged_next_run_without_a_duplicate(
    faulty, province
):
    before = faulty.batches()
    faulty.inject("delay=2")
    [gave_up] = province.sync([DAYS[1]], config(faulty, timeout_s=0.5, max_attempts=1))
    assert gave_up.status == "failed" and faulty.batches() == before
    wait_for(lambda: faulty.batches() == before + 1)  # stored after the client timed out
    [outcome] = province.sync([DAYS[1]], config(faulty))
    assert outcome.status == "acknowledged" and outcome.duplicate and outcome.batch_id == gave_up.batch_id
    assert faulty.batches() == before + 1
    assert [v["version"] for v in faulty.period(DAYS[1])["versions"]] == [1]


def test_a_kill_9_mid_attempt_never_leaves_fewer_attempts_on_record_than_the_node_received(faulty, province):
    day = DAYS[2]
    before = faulty.batches()
    faulty.inject("delay=3")
    script = textwrap.dedent(
        f"""
        import datetime as dt
        from pathlib import Path
        from assets.sync.transport import NodeConfig
        from tests.e2e.test_sync_node import Province
        p = Province(Path({str(province.lake.root.parent)!r}))
        p._views()
        p.sync([dt.date.fromisoformat({day.isoformat()!r})], NodeConfig({faulty.url!r}, "default", {KEY!r}))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env_for(province.lake.root.parent))
    try:
        period = pl.col("period") == day.isoformat()
        wait_for(lambda: province.ledger().filter(period & (pl.col("status") == "pending")).height > 0, 60)
        time.sleep(1.0)  # the request is at the node, which sits on it
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
    wait_for(lambda: faulty.batches() == before + 1)  # the node received (and stored) one attempt
    row = province.ledger().filter(pl.col("period") == day.isoformat()).row(0, named=True)
    assert row["status"] == "pending" and row["attempts"] >= 1
    [outcome] = province.sync([day], config(faulty))
    assert outcome.status == "acknowledged" and outcome.duplicate and outcome.attempts == row["attempts"] + 1


# ---- the directory right after a sync ------------------------------------------------------------
def test_the_directory_shows_the_days_synced_right_after_a_sync(tmp_path):
    home = tmp_path / "home"
    province = home_with(home, DAYS[:3])
    lake = province.lake
    kpi = {
        "as_of_day": DAYS[2],
        "kpi": "days_synced_to_national_center",
        "description": "Local days acknowledged by the national center up to the as-of day",
        "value": 0.0,
        "target": None,
        "unit": "days",
        "progress_pct": None,
        "source": "catalog.sync_ledger",
    }
    lake.upsert(PLAN_PROGRESS, pl.DataFrame([kpi], schema=PLAN_PROGRESS.schema), run_id="catalog")
    datasets, columns = build_directory(lake, {}, pl.DataFrame())
    lake.overwrite(CATALOG_DATASET, datasets, run_id="catalog")
    lake.overwrite(CATALOG_COLUMN, columns, run_id="catalog")
    node = CliNode(home).start().wait_up()
    try:
        out = cli(home, "sync", "--until", DAYS[2].isoformat(), "--node", node.url)
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        node.stop()
    plan = lake.read(PLAN_PROGRESS).filter(pl.col("kpi") == "days_synced_to_national_center")
    assert plan["value"].to_list() == [3.0]
    directory = lake.read(CATALOG_DATASET).filter(pl.col("table_name") == SYNC_LEDGER.name).row(0, named=True)
    assert directory["row_count"] == lake.read(SYNC_LEDGER).height == 3
    assert directory["latest_version"] == lake.version(SYNC_LEDGER)
