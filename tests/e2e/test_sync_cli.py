"""The sync as users run it: `national-node serve` and `sync` in separate processes on the demo key, and the
Dagster asset materialized against the same node (skipping days whose gates fail)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.e2e.test_sync_node import DAYS, READER, READER_KEY, NodeProcess, Province, free_port
from warehouse.registry import SYNC_LEDGER
from warehouse.serving.refresh import refresh_views

pytestmark = pytest.mark.e2e


def env_for(home: Path) -> dict[str, str]:
    env = os.environ | {"LAKEHOUSE_HOME": str(home), "GX_ANALYTICS_ENABLED": "false"}
    for name in (
        "LAKEHOUSE_WAREHOUSE_DB",
        "DAGSTER_HOME",
        "NATIONAL_NODE_KEYS",
        "NATIONAL_NODE_FAULTS",
        "LAKEHOUSE_SYNC_KEY",
        "LAKEHOUSE_SYNC_KEY_ID",
        "LAKEHOUSE_SYNC_NODE_URL",
    ):
        env.pop(name, None)
    return env


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli_sync", *args],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=300,
    )


class CliNode(NodeProcess):
    """The node as `national-node serve` starts it: no NATIONAL_NODE_KEYS, the home's demo key instead."""

    def __init__(self, home: Path) -> None:
        super().__init__(home / "national_node", keys="")
        self.lakehouse_home = home

    def start(self) -> CliNode:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestration.cli_sync",
                "national-node",
                "serve",
                "--port",
                str(self.port),
            ],
            env=env_for(self.lakehouse_home) | {"NATIONAL_NODE_READERS": f"{READER}={READER_KEY}"},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        return self


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A home with three built days and its warehouse, and the demo node started through the CLI."""
    home = tmp_path_factory.mktemp("home")
    province = Province(home)
    province.build_all(DAYS[:3])
    refresh_views(home / "warehouse.duckdb", province.lake)
    node = CliNode(home).start().wait_up()
    yield {"home": home, "province": province, "node": node}
    node.stop()


def test_demo_key_is_shared_by_node_and_province_and_never_shown(demo):
    home, node = demo["home"], demo["node"]
    secret = json.loads((home / "secrets" / "national_sync.key").read_text())["secret"]
    first = cli(home, "sync", "--until", DAYS[2].isoformat(), "--node", node.url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("acknowledged") == 3 and "3/3" in first.stdout
    again = cli(home, "sync", "--until", DAYS[2].isoformat(), "--node", node.url)
    assert again.returncode == 0 and again.stdout.count("unchanged") == 3
    for text in (first.stdout, first.stderr, again.stdout, again.stderr, node.log.read_text()):
        assert secret not in text
    assert (os.stat(home / "secrets" / "national_sync.key").st_mode & 0o077) == 0


def test_a_day_whose_blocking_checks_failed_is_skipped_and_the_node_keeps_its_last_version(demo):
    home, province, node = demo["home"], demo["province"], demo["node"]
    province.build_day(DAYS[1], revision=1, failing_rule="day_complete")
    out = cli(home, "sync", "--until", DAYS[2].isoformat(), "--node", node.url)
    assert out.returncode == 0, out.stdout
    row = province.ledger().filter(pl.col("batch_id") == f"37-{DAYS[1]}-v2").row(0, named=True)
    assert row["status"] == "skipped" and "theme.energy_daily:day_complete" in row["message"]
    assert node.period(DAYS[1])["current_version"] == 1


def test_unreachable_node_fails_the_cli_with_the_ledger_saying_why(demo):
    home, province = demo["home"], demo["province"]
    province.build_day(DAYS[2], revision=1)
    unreachable = f"http://127.0.0.1:{free_port()}"
    out = cli(
        home,
        "sync",
        "--until",
        DAYS[2].isoformat(),
        "--node",
        unreachable,
        "--attempts",
        "2",
        "--timeout",
        "1",
    )
    assert out.returncode == 1
    # A node never sent to starts from nothing: version 1 there, whatever another node holds.
    row = (
        province.ledger()
        .filter((pl.col("node") == unreachable) & (pl.col("batch_id") == f"37-{DAYS[2]}-v1"))
        .row(0, named=True)
    )
    assert row["status"] == "failed" and row["attempts"] == 2 and "unavailable" in row["message"]


def test_dagster_asset_sends_recovers_and_skips(demo):
    from dagster import AssetKey, DagsterInstance, materialize

    from assets.resources import LakeResource, WarehouseResource
    from assets.sync.assets import NationalNodeResource, sync_batches

    home, province, node = demo["home"], demo["province"], demo["node"]
    key = json.loads((home / "secrets" / "national_sync.key").read_text())
    resources = {
        "lake": LakeResource(home=str(home)),
        "warehouse": WarehouseResource(database=str(home / "warehouse.duckdb")),
        "national_node": NationalNodeResource(url=node.url, key_id=key["key_id"], secret=key["secret"]),
    }
    instance = DagsterInstance.ephemeral()

    def run(day: dt.date):
        result = materialize(
            [sync_batches],
            partition_key=day.isoformat(),
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
        assert result.success
        events = result.get_asset_materialization_events()
        assert AssetKey(SYNC_LEDGER.asset_key) in {
            e.asset_key for e in events
        }  # declared and reported, not a stub
        return [e.materialization.metadata for e in events if e.asset_key == national_batch_key]

    national_batch_key = AssetKey(["sync", "national_batch"])
    [meta] = run(DAYS[2])  # restated, and failed at another node in the CLI test above: v2 at this node
    assert meta["batches_sent"].value == 1 and meta["version"].value == 2 and meta["node_receipt"].value
    assert meta["cells_suppressed"].value > 0 and meta["bytes"].value > 0 and meta["latency_ms"].value > 0
    [meta] = run(DAYS[0])
    assert meta["status"].value == "unchanged" and meta["batches_sent"].value == 0
    assert run(DAYS[1]) == []  # blocking check failed
    assert run(DAYS[3]) == []  # theme never built
    ledger = province.lake.read(SYNC_LEDGER)
    skipped = ledger.filter((pl.col("period") == DAYS[3].isoformat()) & (pl.col("status") == "skipped"))
    assert "no partition" in skipped["message"][0]
    assert node.period(DAYS[2])["current_version"] == 2
