"""Industry nodes as sync channels, end to end: a week goes to the national node and to the energy and
machinery nodes, each a separate process (`python -m national_node serve --role ...`), through
`lakehouse sync --channel` with each channel's own key (the home's demo keys).

Each node holds exactly its contract's rows (warehouse.registry.SYNC_CHANNELS): an industry node the
national release's rows of its divisions, cut to its measures. No withheld entry reaches any node: what
the industry nodes hold is part of what the national node holds, row for row, and nothing withheld there
is derivable by linear algebra (the bridge test of tests/unit/test_sync_release.py), across the versions of
a restated day as well. A restated day, synced to the national channel, reaches every node that received
it as a new version.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import httpx
import polars as pl
import pytest

from assets.sync.aggregate import aggregate_day
from assets.sync.batch import make_batch, payload_bytes
from assets.sync.channels import channel_measures
from assets.sync.measures import MEASURES, groups
from assets.sync.sync import build
from assets.sync.transport import NodeConfig, NodeRejected, deliver
from tests.e2e.test_sync_cli import env_for
from tests.e2e.test_sync_node import NodeProcess, Province
from tests.unit.test_sync_release import derivable_by_linear_algebra
from tests.unit.test_sync_restatement import derivable_across_versions
from warehouse.registry import SYNC_CHANNELS
from warehouse.serving.refresh import refresh_views
from warehouse.settings import channel_env, demo_key

pytestmark = pytest.mark.e2e

START = dt.date(2026, 10, 5)
WEEK = [START + dt.timedelta(days=i) for i in range(7)]
RESTATED = WEEK[3]
CHANNELS = ("national", "energy", "machinery")
# Enterprises per city x division: energy (44, 45, 06), machinery (34, 38), chemicals (26), metallurgy (31).
# Cells of 1-2 enterprises are withheld; 3712 Laiwu counts for 3701 Jinan.
LAYOUT = {
    ("3701", "44"): 4,
    ("3701", "45"): 1,
    ("3701", "34"): 3,
    ("3701", "26"): 2,
    ("3701", "31"): 3,
    ("3702", "44"): 2,
    ("3702", "06"): 3,
    ("3702", "34"): 1,
    ("3702", "38"): 4,
    ("3702", "26"): 3,
    ("3703", "44"): 3,
    ("3703", "38"): 2,
    ("3703", "31"): 5,
    ("3712", "45"): 2,
    ("3712", "34"): 3,
}
DIMENSIONS = ["day", "level", "city_code", "industry_code"]


class Industrial(Province):
    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.enterprises = [
            (f"9137{n:04d}{city}{industry}{k:04d}", city, industry)
            for n, ((city, industry), count) in enumerate(LAYOUT.items())
            for k in range(count)
        ]


def sync_cli(home: Path, urls: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`lakehouse sync` as users run it; each industry node's URL from LAKEHOUSE_SYNC_<CHANNEL>_NODE_URL."""
    env = env_for(home) | {channel_env(c, "NODE_URL"): u for c, u in urls.items()}
    for c in SYNC_CHANNELS:
        env.pop(channel_env(c, "KEY"), None)
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli_sync", "sync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows_at(node: NodeProcess, day: dt.date) -> pl.DataFrame:
    return pl.DataFrame(node.period(day)["current"]["data"], infer_schema_length=None)


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """A province with a built week and three nodes, one per channel, each with its own key."""
    root = tmp_path_factory.mktemp("channels")
    home = root / "home"
    province = Industrial(home)
    province.build_all(WEEK)
    refresh_views(home / "warehouse.duckdb", province.lake)
    nodes = {
        c: NodeProcess(root / f"{c}-node", demo_key(home, c).node_keys(), role=c).start() for c in CHANNELS
    }
    try:
        for n in nodes.values():
            n.wait_up()
        yield {"home": home, "province": province, "nodes": nodes}
    finally:
        for n in nodes.values():
            n.stop()


def test_an_industry_channel_without_a_node_url_is_a_usage_error(network):
    out = sync_cli(network["home"], {}, "--until", WEEK[-1].isoformat(), "--channel", "energy")
    assert out.returncode == 2 and "LAKEHOUSE_SYNC_ENERGY_NODE_URL" in out.stderr, out.stdout + out.stderr


def test_a_week_reaches_each_node_as_its_contract_and_a_restatement_reaches_them_all(network):
    home, province, nodes = network["home"], network["province"], network["nodes"]
    urls = {c: n.url for c, n in nodes.items() if c != "national"}
    until = ("--until", WEEK[-1].isoformat())
    outputs = []
    for c in CHANNELS:  # each sync also checks the channels synced before: nothing changed for them
        out = sync_cli(home, urls, *until, "--channel", c, "--node", nodes[c].url)
        assert out.returncode == 0 and out.stdout.count("│ acknowledged") == 7, out.stdout + out.stderr
        assert out.stdout.count("│ unchanged") == 7 * len(outputs), out.stdout
        outputs.append(out)
    # each channel has its own rows in the ledger, keyed by channel and node
    acked = province.ledger().filter(pl.col("status") == "acknowledged")
    assert acked.group_by("channel").len().sort("channel").rows() == [
        ("energy", 7),
        ("machinery", 7),
        ("national", 7),
    ]
    assert set(acked.filter(pl.col("channel") == "energy")["batch_id"]) == {f"37-energy-{d}-v1" for d in WEEK}
    before = aggregate_day(province.con, RESTATED)
    held_before = {c: rows_at(nodes[c], RESTATED) for c in CHANNELS}
    for day in WEEK:
        assert_contracts_and_no_disclosure(nodes, province, day)

    province.build_day(RESTATED, revision=1)  # late data: the day's figures change
    day = ("--since", RESTATED.isoformat(), "--until", RESTATED.isoformat())
    out = sync_cli(home, urls, *day, "--channel", "national", "--node", nodes["national"].url)
    assert out.returncode == 0, out.stdout + out.stderr
    # sent to the national channel, and to each industry node that received the day
    assert out.stdout.count("│ acknowledged") == 3, out.stdout
    assert {"energy", "machinery"} <= set(out.stdout.split()), out.stdout
    for c in CHANNELS:
        period = nodes[c].period(RESTATED)
        assert [v["version"] for v in period["versions"]] == [1, 2] and period["current_version"] == 2, c
        assert not rows_at(nodes[c], RESTATED).equals(held_before[c]), c
        assert [v["version"] for v in nodes[c].period(WEEK[0])["versions"]] == [1], c
    assert_contracts_and_no_disclosure(nodes, province, RESTATED)
    after = aggregate_day(province.con, RESTATED)
    national = [held_before["national"], rows_at(nodes["national"], RESTATED)]
    for measure in ("electricity_kwh", "energy_tce"):  # both versions together reveal no withheld change
        versions = [
            (
                dict(zip(zip(a["city_code"], a["industry_code"], strict=True), a[measure], strict=True)),
                hidden(r),
            )
            for a, r in zip((before, after), national, strict=True)
        ]
        assert not derivable_across_versions(versions), measure

    # the keys stayed out of every output and log
    for c in CHANNELS:
        secret = demo_key(home, c).secret
        for text in (*(o.stdout + o.stderr for o in (*outputs, out)), nodes[c].log.read_text()):
            assert secret not in text, c


def hidden(rows: pl.DataFrame, flag: str = "suppressed") -> set[tuple[str, str]]:
    return {(c, i) for c, i, s in rows.select("city_code", "industry_code", flag).iter_rows() if s}


def assert_contracts_and_no_disclosure(
    nodes: dict[str, NodeProcess], province: Province, day: dt.date
) -> None:
    """Every node's current version of the day is its contract's cut of the national release, and the
    national table shows no withheld entry: so none reaches any node, nor all of them together."""
    national = rows_at(nodes["national"], day)
    for c in CHANNELS:
        contract, rows = SYNC_CHANNELS[c], rows_at(nodes[c], day)
        sent = channel_measures(contract)
        flags = [col for g in groups(sent) for col in (g.flag, g.reason)]
        assert rows.columns == [*DIMENSIONS, *flags, *[m.name for m in sent]], c
        expected = national
        if contract.industry:
            expected = national.filter(
                pl.col("industry_code").is_in(list(contract.divisions))
                & pl.col("level").is_in(["cell", "industry_total"])
            )
            assert set(rows["industry_code"]) <= set(contract.divisions) and rows.height, c
        assert rows.sort(DIMENSIONS).equals(expected.select(rows.columns).sort(DIMENSIONS)), (c, day)
        for g in groups(sent):  # a withheld entry carries no grade-2 value at any node
            grade2 = [m.name for m in sent if m.group is g and m.grade == 2]
            assert rows.filter(pl.col(g.flag)).select(grade2).null_count().sum_horizontal().item() == (
                rows.filter(pl.col(g.flag)).height * len(grade2)
            ), (c, g.name)
    assert hidden(national), "the layout has withheld cells to protect"
    cells = list(zip(national["city_code"], national["industry_code"], strict=True))
    for g in groups(channel_measures(SYNC_CHANNELS["national"])):
        assert not derivable_by_linear_algebra(cells, hidden(national, g.flag)), (day, g.name)


def test_an_industry_node_refuses_rows_and_measures_outside_its_contract(network):
    """The national table, signed with the energy channel's key, is not for the energy node: not with every
    measure, nor cut to the energy measures (its city totals and other divisions are outside)."""
    home, province, node = network["home"], network["province"], network["nodes"]["energy"]
    assert httpx.get(f"{node.url}/health").json()["role"] == "energy"
    frame = build(province.con, province.lake, WEEK[0]).release.frame  # every division, all margins
    key = demo_key(home, "energy")
    for version, measures in ((8, MEASURES), (9, channel_measures(SYNC_CHANNELS["energy"]))):
        payload = payload_bytes(frame, measures)
        batch = make_batch(
            province="37",
            period=WEEK[0].isoformat(),
            version=version,
            payload=payload,
            rows=frame.height,
            cells_suppressed=sum(int(frame[g.flag].sum()) for g in groups(measures)),
            source_versions={},
            channel="energy",
            measures=measures,
        )
        node_key = NodeConfig(node.url, key.key_id, key.secret, channel="energy", max_attempts=1)
        with httpx.Client() as client, pytest.raises(NodeRejected) as refused:
            deliver(client, node_key, batch)
        assert refused.value.status == 422 and refused.value.code == "outside_contract", refused.value
        assert ("not a measure" in str(refused.value)) == (version == 8), refused.value


def test_the_dagster_asset_syncs_a_selected_channel_and_the_restatement_reaches_the_others(
    network, monkeypatch
):
    """sync_batches with only the energy batch selected (as its schedule does): the energy node gets the
    restated day, and so do the national and machinery nodes that received it (observed on their assets)."""
    from dagster import AssetKey, DagsterInstance, materialize

    from assets.resources import LakeResource, WarehouseResource
    from assets.sync.assets import NationalNodeResource, batch_key, sync_batches

    home, province, nodes = network["home"], network["province"], network["nodes"]
    day = WEEK[5]
    province.build_day(day, revision=2)
    refresh_views(home / "warehouse.duckdb", province.lake)
    monkeypatch.setenv("LAKEHOUSE_HOME", str(home))
    monkeypatch.setenv(channel_env("energy", "NODE_URL"), nodes["energy"].url)
    for c in SYNC_CHANNELS:
        monkeypatch.delenv(channel_env(c, "KEY"), raising=False)
    energy = batch_key(SYNC_CHANNELS["energy"])
    result = materialize(
        [sync_batches],
        selection=[energy, AssetKey(["catalog", "sync_ledger"])],
        partition_key=day.isoformat(),
        resources={
            "lake": LakeResource(home=str(home)),
            "warehouse": WarehouseResource(database=str(home / "warehouse.duckdb")),
            "national_node": NationalNodeResource(url="http://127.0.0.1:9"),  # not selected: never called
        },
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    [meta] = [
        e.materialization.metadata for e in result.get_asset_materialization_events() if e.asset_key == energy
    ]
    assert meta["channel"].value == "energy" and meta["status"].value == "acknowledged"
    observed = {
        e.event_specific_data.asset_observation.metadata["channel"].value
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
        and "channel" in e.event_specific_data.asset_observation.metadata
    }
    assert observed == {"national", "machinery"}
    for c in CHANNELS:
        assert nodes[c].period(day)["current_version"] == 2, c
