"""Sync channels: each industry node's contract declared once (warehouse.registry.SYNC_CHANNELS), applied to
the release (assets/sync/channels.py), kept in step with the node's own copy (national_node/contract.py),
with its own URL and key from the environment (warehouse/settings)."""

from __future__ import annotations

import warnings
from dataclasses import replace

import polars as pl
import pytest

from assets.sync.aggregate import aggregate_day
from assets.sync.batch import make_batch, payload_bytes
from assets.sync.channels import UnknownChannel, channel, channel_measures, for_channel, node_config
from assets.sync.measures import MEASURES, groups
from assets.sync.release import release
from national_node.app import create_app
from national_node.contract import ROLES
from tests.unit.test_sync_node import NOW, RING, post
from tests.unit.test_sync_release import DAY, duck, energy_rows, equipment_rows, trade_rows
from warehouse.domain import INDUSTRIES, INDUSTRY_LIBRARIES
from warehouse.registry import NATIONAL_CHANNEL, SYNC_CHANNELS
from warehouse.settings import load_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# energy 44/06, machinery 34/38, chemicals 26, metallurgy 31: withheld cells in every contract
LAYOUT = {
    ("3701", "44"): 4,
    ("3701", "34"): 1,
    ("3701", "26"): 3,
    ("3702", "44"): 1,
    ("3702", "06"): 3,
    ("3702", "38"): 4,
    ("3703", "31"): 3,
    ("3703", "34"): 2,
    ("3703", "26"): 2,
}


def national_release():
    ents = [
        (f"9137{n:04d}{c}{i}{k:04d}", c, i)
        for n, ((c, i), count) in enumerate(LAYOUT.items())
        for k in range(count)
    ]
    energy = energy_rows(ents)
    sales = [(u, 1000.0 * (k + 1)) for k, (u, _, _) in enumerate(ents)]
    return release(aggregate_day(duck(energy, equipment_rows(energy), trade_rows(sales)), DAY))


def test_the_node_knows_each_channel_as_the_province_declares_it():
    """Programs share the contract, not code: the node's roles match the province's channels."""
    assert set(ROLES) == set(SYNC_CHANNELS)
    for name, ch in SYNC_CHANNELS.items():
        role = ROLES[name]
        if not ch.industry:
            assert (
                role.divisions is None and role.measures is None and ch.divisions == tuple(sorted(INDUSTRIES))
            )
            continue
        assert role.divisions == set(ch.divisions), name
        assert role.measures == {m.name for m in channel_measures(ch)}, name
        assert role.max_grade == ch.max_grade and set(role.levels) == {"cell", "industry_total"}, name


def test_every_contract_names_declared_libraries_measures_and_a_cron_cadence():
    names = {m.name for m in MEASURES}
    for ch in SYNC_CHANNELS.values():
        assert set(ch.libraries) <= set(INDUSTRY_LIBRARIES) and set(ch.divisions) <= set(INDUSTRIES)
        assert ch.measures is None or set(ch.measures) <= names, ch.name
        assert len(ch.cadence.split()) == 5, ch.name
    assert SYNC_CHANNELS["energy"].divisions == ("06", "07", "44", "45")
    with pytest.raises(UnknownChannel, match="declared: national, energy"):
        channel("steel")


def test_a_measure_above_the_channels_highest_grade_never_reaches_it():
    grade1 = replace(SYNC_CHANNELS["chemicals"], max_grade=1)
    assert [m.name for m in channel_measures(grade1)] == ["availability_pct"]
    assert all(m.grade <= 2 for m in channel_measures(NATIONAL_CHANNEL))


def test_an_industry_node_gets_the_national_rows_of_its_divisions_with_their_withheld_entries_recounted():
    rel = national_release()
    for name in ("energy", "machinery", "chemicals"):
        ch = SYNC_CHANNELS[name]
        sent = channel_measures(ch)
        cut = for_channel(rel, ch, sent)
        assert set(cut.frame["level"]) <= {"cell", "industry_total"}, name
        assert set(cut.frame["industry_code"]) == set(ch.divisions) & {i for _, i in LAYOUT}, name
        same = rel.frame.join(
            cut.frame.select("city_code", "industry_code"), on=["city_code", "industry_code"]
        )
        assert same.sort("city_code", "industry_code").equals(cut.frame.sort("city_code", "industry_code"))
        withheld = sum(int(cut.frame[g.flag].sum()) for g in groups(sent))
        assert cut.cells_suppressed == withheld > 0, name
    assert for_channel(rel, NATIONAL_CHANNEL, MEASURES) is rel


def test_an_industry_node_accepts_its_cut_and_refuses_the_national_table(tmp_path):
    rel = national_release()
    ch = SYNC_CHANNELS["machinery"]
    sent = channel_measures(ch)

    def batch(frame: pl.DataFrame, version: int):
        return make_batch(
            province="37",
            period=DAY.isoformat(),
            version=version,
            payload=payload_bytes(frame, sent),
            rows=frame.height,
            cells_suppressed=sum(int(frame[g.flag].sum()) for g in groups(sent)),
            source_versions={},
            channel=ch.name,
            measures=sent,
        )

    app = create_app(tmp_path / "node", RING, clock=lambda: NOW, node_id="machinery", role=ROLES["machinery"])
    with TestClient(app) as client:
        ok = post(client, batch(for_channel(rel, ch, sent).frame, 1))
        assert ok.status_code == 201 and ok.json()["batch_id"] == "37-machinery-2026-10-05-v1", ok.text
        refused = post(client, batch(rel.frame, 2))  # city totals and other divisions
        assert refused.status_code == 422 and refused.json()["error"] == "outside_contract", refused.text
        assert "division" in refused.json()["detail"]


def test_each_channel_has_its_own_url_and_key_from_the_environment_never_shown(tmp_path):
    s = load_settings(
        {
            "LAKEHOUSE_HOME": str(tmp_path),
            "LAKEHOUSE_SYNC_ENERGY_NODE_URL": "http://energy.example:8741",
            "LAKEHOUSE_SYNC_ENERGY_KEY_ID": "e1",
            "LAKEHOUSE_SYNC_ENERGY_KEY": "energy-secret-from-the-store",
        }
    )
    assert s.sync_channels_configured == ("national", "energy")
    energy = node_config(s, "energy")
    assert (energy.url, energy.key_id, energy.channel) == ("http://energy.example:8741", "e1", "energy")
    assert "energy-secret-from-the-store" not in repr(s) + repr(energy)
    machinery = s.sync_key("machinery")  # no key set: the home's demo key of that channel, not another's
    assert machinery.secret not in (s.sync_key().secret, energy.secret)
    assert (tmp_path / "secrets" / "machinery_sync.key").exists()
    with pytest.raises(UnknownChannel, match="LAKEHOUSE_SYNC_MACHINERY_NODE_URL"):
        node_config(s, "machinery")


def test_each_channel_has_a_schedule_at_its_cadence_selecting_its_batch():
    import datetime as dt
    from zoneinfo import ZoneInfo

    from dagster import AssetKey, build_schedule_context

    from orchestration.jobs import SYNC_SCHEDULES

    by_name = {s.name: s for s in SYNC_SCHEDULES}
    assert set(by_name) == {
        "sync_schedule",
        *(f"sync_{c}_schedule" for c in SYNC_CHANNELS if c != "national"),
    }
    at = dt.datetime(2026, 11, 9, 4, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
    for name, ch in SYNC_CHANNELS.items():
        schedule = by_name["sync_schedule" if name == "national" else f"sync_{name}_schedule"]
        assert schedule.cron_schedule == ch.cadence
        requests = schedule(build_schedule_context(scheduled_execution_time=at))
        assert {tuple(r.asset_selection) for r in requests} == {
            (AssetKey(["sync", f"{name}_batch"]), AssetKey(["catalog", "sync_ledger"]))
        }
        days = [r.partition_key for r in requests]
        assert days[-1] == "2026-11-08" and len(days) == (14 if name == "machinery" else 8), name
