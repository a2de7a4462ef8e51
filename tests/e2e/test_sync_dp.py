"""Differential privacy end to end (issue 17, part 4): a real sync with DP on to the reference node, a
separate process on loopback, stores the noise marks; a rebuilt day reuses its noise (unchanged, nothing
spent) and a restated one spends again, within every enterprise's budget."""

from __future__ import annotations

import sqlite3

import httpx
import polars as pl
import pytest

from assets.sync import ledger, noise
from assets.sync.sync import build, sync_days
from tests.e2e.test_sync_node import DAYS, KEY, NodeProcess, Province, config
from warehouse.registry import PRIVACY_BUDGET
from warehouse.settings import SyncPrivacy

pytestmark = pytest.mark.e2e

PRIVACY = SyncPrivacy(epsilon=1.0, budget=2.0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("dp")
    province = Province(root / "province")
    province.build_all(DAYS[:2])
    node = NodeProcess(root / "node", f"37={KEY}").start().wait_up()
    yield province, node
    node.stop()


def sync(province: Province, node: NodeProcess, days, privacy=PRIVACY):
    with httpx.Client() as client:
        return sync_days(
            days,
            lake=province.lake,
            con=province.con,
            client=client,
            node=config(node),
            run_id="e2e-dp",
            privacy=privacy,
        )


def test_a_sync_with_dp_on_stores_the_marks_and_a_restatement_stays_within_budget(setup):
    province, node = setup
    outcomes = sync(province, node, DAYS[:2])
    assert [o.status for o in outcomes] == ["acknowledged", "acknowledged"]
    with sqlite3.connect(node.home / "national_node.sqlite3") as db:
        stored = dict(db.execute("SELECT period, cells_noisy FROM batches"))
    for day, outcome in zip(DAYS[:2], outcomes, strict=True):
        period = node.period(day)
        data = pl.DataFrame(period["current"]["data"])
        marked = data.filter(pl.col("noise").is_not_null())
        assert outcome.cells_noisy == marked.height == period["current"]["noisy"] == stored[str(day)] > 0
        assert set(marked["noise"]) == {"laplace"} and marked["suppressed"].all()
        assert (
            marked["electricity_kwh"].null_count() == 0
            and marked["enterprises"].null_count() == marked.height
        )
        assert period["current"]["manifest"]["differential_privacy"] == {
            "mechanism": "laplace",
            "epsilon": 1.0,
        }
        # the province rebuilds the same figures (the noise held in its ledger is reused, nothing drawn)
        rows = ledger.period_rows(province.lake, str(day), node.url)
        again = build(
            province.con, province.lake, day, held=tuple(ledger.held_versions(rows)), privacy=PRIVACY
        )
        assert again.release.frame.equals(data) and again.noised is not None and again.noised.draws == ()
    spent = noise.spent(province.lake, str(DAYS[0]))
    assert spent and max(spent.values()) == PRIVACY.epsilon

    assert [o.status for o in sync(province, node, DAYS[:2])] == ["unchanged", "unchanged"]
    assert noise.spent(province.lake, str(DAYS[0])) == spent  # nothing spent on an unchanged day

    province.build_day(DAYS[0], revision=1)  # restated: every cell changed, each noisy one drawn again
    [restated] = sync(province, node, DAYS[:1])
    assert restated.status == "acknowledged" and restated.version == 2 and restated.cells_noisy > 0
    assert max(noise.spent(province.lake, str(DAYS[0])).values()) == 2.0 == PRIVACY.budget

    province.build_day(DAYS[0], revision=2)  # their budget is spent: those cells go out without noise
    [third] = sync(province, node, DAYS[:1])
    assert third.status == "acknowledged" and third.cells_budget_refused > 0
    current = pl.DataFrame(node.period(DAYS[0])["current"]["data"])
    assert current.filter(pl.col("suppressed") & (pl.col("level") == "cell"))["noise"].null_count() >= (
        third.cells_budget_refused
    )
    assert third.cells_noisy == current["noise"].is_not_null().sum()
    budget = province.lake.read(PRIVACY_BUDGET).group_by("period", "uscc").agg(pl.sum("epsilon"))
    assert budget["epsilon"].max() <= PRIVACY.budget


def test_with_dp_off_the_wire_carries_no_mark(setup):
    province, node = setup
    [outcome] = sync(province, node, [DAYS[1]], privacy=None)  # the payload without noise: a new version
    assert outcome.status == "acknowledged" and outcome.cells_noisy == 0
    period = node.period(DAYS[1])
    assert "noise" not in period["current"]["data"][0] and "noisy" not in period["current"]
    assert "differential_privacy" not in period["current"]["manifest"]
