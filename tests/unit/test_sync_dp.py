"""Differential privacy on withheld cells (issue 17, part 4): calibrated OpenDP noise, the privacy-budget
ledger (a real Delta table) under restatements, and the node's strict acceptance of the wire's noise mark."""

from __future__ import annotations

import math
import statistics
import warnings

import polars as pl
import pytest

from assets.sync import noise
from assets.sync.aggregate import aggregate_day
from assets.sync.batch import make_batch, payload_bytes
from assets.sync.measures import ENERGY, MEASURES, noisy, released
from assets.sync.release import Held, release
from national_node.app import create_app
from national_node.contract import GROUPS
from national_node.contract import MEASURES as CENTER_MEASURES
from tests.unit.test_sync_node import DAY, NOW, RING, get, post
from tests.unit.test_sync_release import duck, energy_rows, equipment_rows
from warehouse.registry import PRIVACY_BUDGET
from warehouse.settings import SyncPrivacy, load_settings
from warehouse.storage import Lake

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SUMS = [m.name for m in noisy(ENERGY)]
# 3701 holds 1-2 enterprise cells (withheld), 3702 cells of 3+ (released, unless complementary).
ENTERPRISES = [
    (f"91370000000000{i:04d}", city, industry)
    for i, (city, industry) in enumerate(
        [("3701", "26"), ("3701", "31"), ("3701", "31")] + [("3702", "26")] * 4 + [("3702", "31")] * 3
    )
]


def aggregates(shift: float = 0.0):
    e = energy_rows(ENTERPRISES).with_columns(
        pl.when(pl.col("uscc") == ENTERPRISES[0][0])
        .then(pl.col("electricity_kwh") + shift)
        .otherwise(pl.col("electricity_kwh"))
        .alias("electricity_kwh")
    )
    con = duck(e, equipment_rows(e))
    return aggregate_day(con, DAY), noise.contributions(con, DAY)


# ---- the mechanism -----------------------------------------------------------------------------------
def test_noise_sd_over_10000_draws_is_within_10_percent_of_theory_and_opendp_certifies_the_loss():
    bound, epsilon = 1_000.0, 0.5
    meas = noise.mechanism(bound, epsilon)
    assert meas.map(1) <= epsilon  # OpenDP: adding or removing one enterprise
    contributions = [300.0, 5_000.0, -20.0]  # clamped to 300 + 1000 + 0
    draws = [meas(contributions) for _ in range(10_000)]
    theory = noise.noise_std(bound, epsilon)
    assert theory == pytest.approx(math.sqrt(2) * bound / epsilon, rel=1e-5)
    assert abs(statistics.pstdev(draws) / theory - 1) < 0.10
    assert abs(statistics.fmean(draws) - 1_300.0) < 4 * theory / 100  # centred on the clamped sum


def test_each_noisy_measure_gets_an_equal_share_of_the_channel_epsilon():
    epsilon = 1.0
    assert sum(noise.mechanism(m.dp_bound, epsilon / len(SUMS)).map(1) for m in noisy(ENERGY)) <= epsilon
    assert SUMS == ["electricity_kwh", "natural_gas_m3", "coal_t", "energy_tce"]


def test_the_setting_is_off_by_default_and_per_channel():
    assert load_settings({}).sync_privacy("national") is None
    s = load_settings({"LAKEHOUSE_SYNC_DP_EPSILON": "national=0.5", "LAKEHOUSE_SYNC_DP_BUDGET": "2"})
    assert s.sync_privacy("national") == SyncPrivacy(0.5, 2.0) and s.sync_privacy("industry") is None
    assert load_settings({"LAKEHOUSE_SYNC_DP_EPSILON": "1"}).sync_privacy("any") == SyncPrivacy(1.0, 3.0)


# ---- the release -------------------------------------------------------------------------------------
def test_only_withheld_cells_get_noise_and_flags_reasons_counts_stay():
    agg, contrib = aggregates()
    plain = release(agg)
    out = noise.add_noise(plain, contrib, SyncPrivacy(1.0, 3.0), spent={})
    frame = out.release.frame
    assert frame.drop("noise", *SUMS).equals(plain.frame.drop(*SUMS))  # flags, reasons, counts, ratios
    marked = frame.filter(pl.col("noise").is_not_null())
    withheld_cells = plain.frame.filter(pl.col("suppressed") & (pl.col("level") == "cell"))
    assert marked.height == withheld_cells.height == out.noisy_cells >= 2
    assert set(marked["noise"]) == {"laplace"} and marked["suppressed"].all()
    assert marked.select(SUMS).null_count().sum_horizontal().item() == 0
    assert marked["enterprises"].null_count() == marked.height  # counts are never noised
    # a withheld margin stays plainly withheld; a released entry stays exact and unmarked
    assert frame.filter(pl.col("suppressed") & (pl.col("level") != "cell"))["noise"].null_count() == (
        frame.filter(pl.col("suppressed") & (pl.col("level") != "cell")).height
    )
    exact = frame.filter(~pl.col("suppressed"))
    assert exact.select(SUMS).equals(plain.frame.filter(~pl.col("suppressed")).select(SUMS))
    assert sorted({u for d in out.draws for u in d.usccs}) == sorted(
        contrib.join(withheld_cells.select("city_code", "industry_code"), on=["city_code", "industry_code"])[
            "uscc"
        ].unique()
    )


# ---- the budget ledger --------------------------------------------------------------------------------
def _sync_round(lake: Lake, shift: float, held: list[Held], privacy: SyncPrivacy, channel: str = "national"):
    """What sync_day does for one version: release, noise within the budget, spend, keep as held."""
    agg, contrib = aggregates(shift)
    plain = release(agg, held=held, version=len(held) + 1)
    out = noise.add_noise(plain, contrib, privacy, spent=noise.spent(lake, DAY.isoformat()), held=held)
    noise.record_draws(
        lake,
        out.draws,
        period=DAY.isoformat(),
        channel=channel,
        node="http://node",
        version=len(held) + 1,
        budget=privacy.budget,
        run_id="t",
    )
    held.append(out.release.held)
    return out


def test_the_budget_is_never_exceeded_under_restatements_and_unchanged_cells_reuse_their_noise(tmp_path):
    lake = Lake(tmp_path / "lake")
    privacy = SyncPrivacy(epsilon=1.0, budget=2.5)  # two fresh draws per enterprise, not three
    held: list[Held] = []
    first = _sync_round(lake, 0.0, held, privacy)
    lone = ENTERPRISES[0][0]  # alone in cell 3701/26: its draw is the cell's
    assert noise.spent(lake, DAY.isoformat())[lone] == 1.0 and first.refused == ()
    again = _sync_round(lake, 0.0, held, privacy)  # rebuilt unchanged: same noisy values, nothing spent
    assert again.draws == () and again.reused == first.noisy_cells
    assert again.release.frame.equals(first.release.frame)
    restated = _sync_round(lake, 500.0, held, privacy)  # 3701/26 changed: drawn again, spent again
    assert [d.cell for d in restated.draws] == [("3701", "26")] and restated.reused == first.noisy_cells - 1
    assert noise.spent(lake, DAY.isoformat())[lone] == 2.0
    third = _sync_round(lake, 900.0, held, privacy)  # a third draw would take it to 3.0 > 2.5: refused
    assert third.refused == (("3701", "26"),) and third.draws == ()
    cell = third.release.frame.filter((pl.col("city_code") == "3701") & (pl.col("industry_code") == "26"))
    assert cell["noise"][0] is None and cell["suppressed"][0] and cell["electricity_kwh"][0] is None
    other = _sync_round(lake, 900.0, [], privacy, channel="industry")  # another channel shares the budget
    assert ("3701", "26") in other.refused
    spent = noise.spent(lake, DAY.isoformat())
    assert max(spent.values()) <= privacy.budget
    ledger = lake.read(PRIVACY_BUDGET)
    assert ledger.group_by("period", "uscc").agg(pl.sum("epsilon"))["epsilon"].max() <= privacy.budget
    assert set(ledger["channel"]) == {"national", "industry"}


def test_the_held_record_keeps_noisy_values_for_the_next_version():
    agg, contrib = aggregates()
    out = noise.add_noise(release(agg), contrib, SyncPrivacy(1.0, 3.0), spent={})
    back = Held.from_record(out.release.held.record())
    assert back == out.release.held and set(back.noisy) == set(SUMS)
    assert "noisy" not in release(agg).held.record()  # DP off: the ledger's record is as before


# ---- the wire and the node ----------------------------------------------------------------------------
def noisy_batch(frame: pl.DataFrame | None = None, **manifest):
    if frame is None:
        agg, contrib = aggregates()
        frame = noise.add_noise(release(agg), contrib, SyncPrivacy(1.0, 3.0), spent={}).release.frame
    b = make_batch(
        province="37",
        period=DAY.isoformat(),
        version=1,
        payload=payload_bytes(frame),
        rows=frame.height,
        cells_suppressed=int(frame["suppressed"].sum() + frame["trading_suppressed"].sum()),
        source_versions={},
        noise=("energy",),
        epsilon=1.0,
    )
    return type(b)(b.batch_id, b.period, b.version, b.manifest | manifest, b.payload), frame


@pytest.fixture
def client(tmp_path):
    app = create_app(tmp_path / "node", RING, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_the_node_accepts_and_stores_noisy_cells_with_their_mark(client, tmp_path):
    b, frame = noisy_batch()
    assert b.manifest["differential_privacy"] == {"mechanism": "laplace", "epsilon": 1.0}
    r = post(client, b)
    assert r.status_code == 201, r.text
    period = get(client, f"/v1/provinces/37/periods/{DAY}", params={"include_rows": True}).json()
    stored = pl.DataFrame(period["current"]["data"])
    assert stored.equals(frame) and period["current"]["noisy"] == frame["noise"].is_not_null().sum() >= 2
    import sqlite3

    with sqlite3.connect(tmp_path / "node" / "national_node.sqlite3") as con:
        assert con.execute("SELECT cells_noisy FROM batches").fetchall() == [(period["current"]["noisy"],)]


def _refused(client, frame, field_or_detail: str, **manifest) -> None:
    b, _ = noisy_batch(frame, **manifest)
    r = post(client, b)
    assert r.status_code == 422, r.text
    assert field_or_detail in r.text


def test_the_node_stays_strict_about_the_mark(client):
    _, frame = noisy_batch()
    withheld_cell = (pl.col("level") == "cell") & pl.col("suppressed")
    unknown = frame.with_columns(
        pl.when(withheld_cell).then(pl.lit("gaussian")).otherwise(None).alias("noise")
    )
    _refused(client, unknown, "noise")  # a value outside the closed set
    exact = frame.with_columns(
        pl.when(~pl.col("suppressed")).then(pl.lit("laplace")).otherwise(pl.col("noise")).alias("noise")
    )
    _refused(client, exact, "noise mark on an entry released exact")
    counted = frame.with_columns(
        pl.when(pl.col("noise").is_not_null()).then(1).otherwise(pl.col("enterprises")).alias("enterprises")
    )
    _refused(client, counted, "carries exact grade-2 values ['enterprises']")
    unmarked = frame.with_columns(pl.lit(None, pl.String).alias("noise"))
    _refused(client, unmarked, "withheld for energy but carries grade-2 values")  # noise without the mark
    b, _ = noisy_batch()
    _refused(client, frame, "differential_privacy", differential_privacy=None)
    assert post(client, b).status_code == 201


def test_the_centers_contract_knows_the_provinces_noisy_measures_and_mark_columns():
    assert {m.name for m in released() if m.dp_bound} == {n for n, m in CENTER_MEASURES.items() if m.noisy}
    assert {m.group.name: m.group.noise for m in MEASURES} == {g.name: g.noise for g in GROUPS.values()}


def test_an_older_node_file_gets_the_noisy_count_column_in_place(tmp_path):
    import sqlite3

    from national_node.storage import DB_FILE, NodeStore

    home = tmp_path / "old"
    home.mkdir()
    with sqlite3.connect(home / DB_FILE) as con:  # the batches table as the node created it before
        con.execute(
            "CREATE TABLE batches (receipt_id TEXT PRIMARY KEY, node TEXT NOT NULL, idempotency_key TEXT NOT NULL,"
            " batch_id TEXT NOT NULL, period TEXT NOT NULL, version INTEGER NOT NULL, schema_version TEXT NOT NULL,"
            " payload_sha256 TEXT NOT NULL, rows INTEGER NOT NULL, cells_suppressed INTEGER NOT NULL,"
            " key_id TEXT NOT NULL, manifest TEXT NOT NULL, payload BLOB NOT NULL, stored_at TEXT NOT NULL,"
            " UNIQUE (node, idempotency_key), UNIQUE (node, period, version))"
        )
        con.execute(
            "INSERT INTO batches VALUES ('r1','37','k','k','2026-10-05',1,'2','0',0,0,'d','{}',x'00','t')"
        )
    store = NodeStore(home)
    assert store.cells_noisy("r1") == 0
    store.close()
    NodeStore(home).close()  # opening again adds nothing twice
