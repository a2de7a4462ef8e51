"""SCD type 2 golden record: history across two loads, idempotent re-runs, as-of queries, masking in views."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets.enterprise.golden import RegistryBuild, build_registry, current, gated
from warehouse.registry import DCMM_ASSESSMENT, ENTERPRISE, TABLES
from warehouse.storage import Lake


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    from simulator import generate

    root = tmp_path_factory.mktemp("golden")
    m = generate(
        root / "landing", root / "m.json", enterprises=30, days=2, start=dt.date(2026, 11, 1), seed=11
    )
    return root, m


def _load(lake: Lake, build) -> list[dict]:
    return [lake.scd2_merge(ENTERPRISE, state, as_of=day, run_id="t") for day, state in build.snapshots]


def _loaded(root, tmp_path) -> tuple[Lake, RegistryBuild, list[dict]]:
    """A fresh lake with every register snapshot of the simulated province merged."""
    lake = Lake(tmp_path / "lake")
    build = build_registry(root / "landing" / "registry")
    return lake, build, _load(lake, build)


def test_scd2_history_across_two_snapshots(province, tmp_path):
    root, m = province
    lake, _, stats = _loaded(root, tmp_path)
    truth = m["registry"]["golden"]
    assert stats[0]["inserted"] == truth["current"] and stats[1]["closed"] == len(truth["changes"])
    history = lake.read(ENTERPRISE)
    assert history.height == truth["history_rows"]
    assert (
        current(history).height == truth["current"]
        and current(history)["uscc"].n_unique() == truth["current"]
    )
    second = dt.date.fromisoformat(truth["changes"][0]["on"])
    for change in truth["changes"]:
        rows = history.filter(pl.col("uscc") == change["uscc"]).sort("valid_from")
        assert rows.height == 2
        assert rows["valid_to"][0] == second and rows["valid_to"][1] is None
        assert rows[change["field"]][1] == change["to"] and rows[change["field"]][0] != change["to"]


def test_rerun_with_same_inputs_makes_no_new_delta_version(province, tmp_path):
    root, _ = province
    lake, _, _ = _loaded(root, tmp_path)
    version = lake.version(ENTERPRISE)
    again = _load(lake, build_registry(root / "landing" / "registry"))
    assert lake.version(ENTERPRISE) == version
    assert all(s["inserted"] == s["closed"] == s["replaced"] == 0 for s in again)


def test_as_of_date_answers_with_the_version_valid_then(province, tmp_path):
    root, m = province
    lake = Lake(tmp_path / "lake")
    _load(lake, build_registry(root / "landing" / "registry"))
    change = m["registry"]["golden"]["changes"][0]
    first_day = dt.date.fromisoformat(m["registry"]["files"]["market_regulation.csv"]["snapshot_date"])
    before = lake.as_of(ENTERPRISE, first_day + dt.timedelta(days=1)).filter(pl.col("uscc") == change["uscc"])
    after = lake.as_of(ENTERPRISE, dt.date.fromisoformat(change["on"])).filter(
        pl.col("uscc") == change["uscc"]
    )
    assert before[change["field"]].item() != change["to"] and after[change["field"]].item() == change["to"]
    assert lake.as_of(ENTERPRISE, first_day - dt.timedelta(days=1)).is_empty()


def test_same_day_correction_replaces_the_version_in_place(tmp_path):
    lake = Lake(tmp_path / "lake")
    _, state = build_registry_state()
    day = dt.date(2026, 1, 1)
    lake.scd2_merge(ENTERPRISE, state, as_of=day, run_id="a")
    fixed = state.with_columns(address=pl.lit("新地址"), row_hash=pl.lit("other"))
    stats = lake.scd2_merge(ENTERPRISE, fixed, as_of=day, run_id="b")
    assert stats["replaced"] == 1 and lake.read(ENTERPRISE).height == 1
    assert lake.read(ENTERPRISE)["address"].item() == "新地址"


def build_registry_state():
    from assets.enterprise.golden import survive

    reg = pl.DataFrame(
        {
            "uscc": ["914403001922038216"],
            "name": ["甲"],
            "legal_representative": ["张三"],
            "phone": ["13812341234"],
            "legal_representative_id": ["11010519491231002X"],
            "address": ["地址"],
            "city_code": ["3701"],
            "division_code": ["370102"],
            "industry_code": ["26"],
            "registered_capital": [1.0],
            "status": ["active"],
            "established_date": [dt.date(2020, 1, 1)],
        }
    )
    attrs = pl.DataFrame(
        schema={"uscc": pl.String, "key_energy_user": pl.Boolean, "energy_use_level": pl.String}
    )
    return reg, survive(reg, attrs)


def test_personal_columns_are_declared_grade_2_and_never_in_clear_in_themes():
    pii = {(t.name, c.name) for t in TABLES.values() for c in t.columns if c.pii}
    assert {("silver.enterprise", "legal_representative"), ("silver.enterprise", "phone")} <= pii
    for t in TABLES.values():
        for c in t.columns:
            if c.pii:
                assert c.grade >= 2 and t.layer == "silver"


def test_the_golden_records_checks_see_current_rows_reconciled_per_source_file(province, tmp_path):
    root, m = province
    lake, build, _ = _loaded(root, tmp_path)
    history = lake.read(ENTERPRISE)
    golden, dcmm = gated(history, build)
    assert (
        golden.spec == ENTERPRISE and golden.df.height == m["registry"]["golden"]["current"] < history.height
    )
    assert set(golden.sources) == {v.source_file for v in build.files} | {"registry/key_enterprises.xlsx"}
    assert all(r.holds for r in golden.sources.values())
    assert golden.checks == {"row_rule_counts": build.reasons}
    assert dcmm.spec == DCMM_ASSESSMENT and dcmm.df.height == m["registry"]["roster"]["assessments"]
