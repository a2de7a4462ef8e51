"""OEE per line, the enterprise roll-up by summed components, energy intensity, and the production
row rules against the simulator's ground truth."""

import datetime as dt
import json

import polars as pl
import pytest

from assets.production.oee import enterprise_daily, partition_oee, production_daily
from assets.production.records import clean_production, read_production
from quality.checks import Reconciliation
from simulator import generate
from warehouse.registry import SILVER_PRODUCTION

DAY = dt.date(2026, 11, 2)
ACME, OTHER = "91370102MA3C123469", "914403001922038216"
ENTERPRISES = pl.DataFrame(
    {"uscc": [ACME, OTHER], "city_code": ["3701", "3703"], "industry_code": ["31", "34"]}
)


def _silver(rows: list[dict]) -> pl.DataFrame:
    base = {"day": DAY, "uscc": ACME, "product": "coil", "unit": "t", "source_file": "f", "line_no": 2}
    return pl.DataFrame([base | r for r in rows]).with_columns(
        pl.col("^.*_(minutes|s|units)$").cast(pl.Float64)
    )


# Line A: one shift. Line B: three shifts. Hand-computed:
#   A: availability 400/480 = 0.8333, performance (60 s x 300 = 300 min)/400 = 0.75, quality 290/300 -> OEE 0.604167
#   B: availability 1200/1440 = 0.8333, performance (30 s x 2000 = 1000 min)/1200, quality 0.95 -> OEE 0.659722
#   Enterprise: 1600/1920 x 1300/1600 x 2190/2300 = 0.644701 (the mean of the two OEEs, 0.631944, is wrong)
LINES = [
    {
        "line_id": "L-A",
        "planned_minutes": 480,
        "run_minutes": 400,
        "ideal_cycle_s": 60,
        "total_units": 300,
        "good_units": 290,
    },
    {
        "line_id": "L-B",
        "planned_minutes": 1440,
        "run_minutes": 1200,
        "ideal_cycle_s": 30,
        "total_units": 2000,
        "good_units": 1900,
    },
]


def test_oee_per_line_is_availability_times_performance_times_quality():
    lines = production_daily(_silver(LINES), ENTERPRISES)
    a, b = lines.sort("line_id").to_dicts()
    assert a["availability"] == pytest.approx(400 / 480)
    assert a["performance"] == pytest.approx(0.75)
    assert a["quality"] == pytest.approx(290 / 300)
    assert a["oee"] == pytest.approx(0.604167, abs=1e-6)
    assert b["oee"] == pytest.approx(0.659722, abs=1e-6)
    assert a["city_code"] == "3701" and a["industry_code"] == "31"


def test_enterprise_oee_sums_components_never_averages_percentages():
    lines = production_daily(_silver(LINES), ENTERPRISES)
    energy = pl.DataFrame({"uscc": [ACME, ACME], "energy_tce": [20.0, 3.0]})
    (ent,) = enterprise_daily(lines, energy, day=DAY).to_dicts()
    assert ent["availability"] == pytest.approx(1600 / 1920)
    assert ent["performance"] == pytest.approx(1300 / 1600)
    assert ent["quality"] == pytest.approx(2190 / 2300)
    assert ent["oee"] == pytest.approx(0.644701, abs=1e-6)
    assert ent["oee"] != pytest.approx(lines["oee"].mean(), abs=1e-3)
    assert ent["lines"] == 2 and ent["unit"] == "t"
    # the UI's partition figure is the same summed-component roll-up
    assert partition_oee(lines)["oee"] == pytest.approx(0.644701, abs=1e-6)
    assert partition_oee(lines.clear()) == {
        "availability": 0.0,
        "performance": 0.0,
        "quality": 0.0,
        "oee": 0.0,
    }


def test_energy_intensity_is_tce_of_the_day_per_unit_of_output():
    lines = production_daily(_silver(LINES), ENTERPRISES)
    energy = pl.DataFrame({"uscc": [ACME, ACME], "energy_tce": [20.0, 3.0]})
    (ent,) = enterprise_daily(lines, energy, day=DAY).to_dicts()
    assert ent["energy_tce"] == pytest.approx(23.0)
    assert ent["energy_intensity"] == pytest.approx(23.0 / 2300)


def test_energy_intensity_is_null_with_mixed_units_or_no_energy():
    mixed = _silver([LINES[0], LINES[1] | {"unit": "pcs"}])
    (ent,) = enterprise_daily(
        production_daily(mixed, ENTERPRISES), pl.DataFrame({"uscc": [ACME], "energy_tce": [5.0]}), day=DAY
    ).to_dicts()
    assert ent["unit"] == "mixed" and ent["energy_intensity"] is None
    none = enterprise_daily(
        production_daily(_silver(LINES), ENTERPRISES),
        pl.DataFrame(schema={"uscc": pl.String, "energy_tce": pl.Float64}),
        day=DAY,
    )
    assert none["energy_intensity"].item() is None and none["oee"].item() > 0


def test_zero_planned_time_gives_null_ratios_not_infinity():
    idle = _silver([LINES[0] | {"planned_minutes": 0, "run_minutes": 0, "total_units": 0, "good_units": 0}])
    row = production_daily(idle, ENTERPRISES).to_dicts()[0]
    assert row["availability"] is None and row["oee"] is None


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    root = tmp_path_factory.mktemp("prod")
    manifest = generate(
        root / "landing",
        root / "m.json",
        enterprises=12,
        days=3,
        start=dt.date(2026, 11, 1),
        seed=5,
        defect_rate=0.03,
    )
    equipment = pl.read_parquet(root / "landing" / "master" / "equipment.parquet")
    return root / "landing", manifest["production"], equipment


def test_quarantine_counts_per_reason_and_duplicates_match_ground_truth(simulated):
    landing, truth, equipment = simulated
    raw = read_production(landing)
    assert raw.height == truth["landed"]
    for day, exp in truth["by_day"].items():
        r = clean_production(raw, equipment, day=dt.date.fromisoformat(day), run_id="r")
        assert r.landed == exp["landed"] and r.duplicates == exp["duplicates"], day
        assert r.clean.height == exp["clean"], day
        assert r.reasons == {k: v for k, v in exp["quarantined"].items() if v}, day
        assert r.landed == r.clean.height + r.quarantined.height + r.duplicates
        assert r.clean.select("line_id", "day").is_unique().all()
        assert all(json.loads(p)["line_id"] for p in r.quarantined["payload"])


def test_clean_simulated_records_keep_every_oee_component_within_bounds(simulated):
    landing, truth, equipment = simulated
    raw = read_production(landing)
    clean = pl.concat(
        clean_production(raw, equipment, day=dt.date.fromisoformat(d), run_id="r").clean
        for d in truth["by_day"]
    )
    lines = production_daily(clean, ENTERPRISES)
    for col in ("availability", "performance", "quality", "oee"):
        assert lines[col].is_between(0, 1).all(), col
    assert 0.4 < lines["oee"].mean() < 0.95


def test_conflicting_records_for_one_line_day_are_quarantined_not_guessed():
    rows = [
        {
            "line_id": "L1",
            "uscc": ACME,
            "day": "2026-11-02",
            "planned_minutes": "480",
            "run_minutes": "400",
            "ideal_cycle_s": "60",
            "total_units": "300",
            "good_units": "290",
            "product": "p",
            "unit": "t",
        },
    ]
    raw = pl.DataFrame(rows + [rows[0] | {"good_units": "280"}] + [rows[0]]).with_columns(
        line_no=pl.Series([2, 3, 4], dtype=pl.Int64),
        source_file=pl.lit("production/x.csv"),
        route_day=pl.lit(DAY),
    )
    equipment = pl.DataFrame({"line_id": ["L1"], "uscc": [ACME]})
    r = clean_production(raw, equipment, day=DAY, run_id="r")
    assert r.duplicates == 1 and r.clean.is_empty()
    assert r.reasons == {"duplicate_line_day": 2}


def test_the_days_checks_judge_every_record_but_the_dropped_duplicates(simulated):
    """Exact duplicates are dropped before the row rules run: the checks' evaluated count leaves them out,
    the day's reconciliation counts them."""
    landing, truth, equipment = simulated
    day = next(d for d, exp in truth["by_day"].items() if exp["duplicates"])
    r = clean_production(read_production(landing), equipment, day=dt.date.fromisoformat(day), run_id="r")
    gated = r.gated(day)
    assert (gated.spec, gated.partition, gated.df.height) == (SILVER_PRODUCTION, day, r.clean.height)
    assert gated.checks == {"row_rule_counts": r.reasons, "evaluated": r.landed - r.duplicates}
    assert gated.checks["evaluated"] < r.landed
    assert gated.reconciliation == Reconciliation(
        r.landed, r.clean.height, r.quarantined.height, r.duplicates
    )
