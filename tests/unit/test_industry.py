"""Industry topic libraries: the division map, weighted roll-ups per division x city x day, top
consumers, and the monthly table with month-on-month / year-on-year change."""

import datetime as dt

import polars as pl
import pytest

from assets.industry.libraries import (
    enterprise_day,
    library_daily,
    library_monthly,
    library_of,
    state_hours,
)
from warehouse.domain import INDUSTRY_LIBRARIES, STATE_FAULT, STATE_RUNNING
from warehouse.registry import INDUSTRY_LIBRARY_TABLES, TABLES

DAY = dt.date(2026, 11, 2)
A, B, C, D = "USCC-A", "USCC-B", "USCC-C", "USCC-D"


def test_library_map_follows_domain_md():
    assert INDUSTRY_LIBRARIES == {
        "chemicals": ("25", "26", "28", "29"),
        "metallurgy": ("31", "32"),
        "machinery": ("33", "34", "35", "36", "37", "38", "40"),
        "power_energy": ("06", "07", "44", "45"),
        "textiles": ("17", "18"),
    }
    assert library_of("31") == "metallurgy" and library_of("44") == "power_energy"
    assert library_of("27") is None and library_of("39") is None  # pharma, electronics: no library
    assert {f"industry.{lib}" for lib in INDUSTRY_LIBRARIES} <= set(TABLES)
    assert set(INDUSTRY_LIBRARY_TABLES) == set(INDUSTRY_LIBRARIES)


def _energy() -> pl.DataFrame:
    rows = [  # (uscc, industry, city, tce, expected, received)
        (A, "31", "3703", 10.0, 480, 480),
        (A, "31", "3703", 5.0, 96, 0),
        (B, "31", "3703", 30.0, 96, 96),
        (C, "31", "3703", 1.0, 96, 96),
        (D, "31", "3703", 2.0, 96, 96),
        ("USCC-X", "27", "3703", 99.0, 96, 96),  # pharma: in no library
    ]
    return pl.DataFrame(
        rows,
        schema=["uscc", "industry_code", "city_code", "energy_tce", "readings_expected", "readings_received"],
        orient="row",
    )


def _states() -> pl.DataFrame:
    # A: 96 readings (24 h), 24 in fault (6 h). B: 8 readings (2 h), none in fault.
    values = [STATE_FAULT] * 24 + [STATE_RUNNING] * 72 + [STATE_RUNNING] * 8
    return pl.DataFrame({"uscc": [A] * 96 + [B] * 8, "value": [float(v) for v in values]})


def _production() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "uscc": [A, B],
            "industry_code": ["31", "31"],
            "city_code": ["3703", "3703"],
            "unit": ["t", "t"],
            "planned_minutes": [480.0, 1440.0],
            "run_minutes": [400.0, 1200.0],
            "ideal_run_minutes": [300.0, 1000.0],
            "total_units": [300.0, 2000.0],
            "good_units": [290.0, 1900.0],
        }
    )


def _cell() -> dict:
    base = enterprise_day(_energy(), state_hours(_states()), _production())
    out = library_daily(base, "metallurgy", day=DAY)
    assert out.height == 1
    return out.to_dicts()[0]


def test_library_cell_weights_completeness_availability_and_oee_by_their_components():
    row = _cell()
    # completeness: (480 + 0 + 96 + 96 + 96) / (480 + 96 + 96 + 96 + 96) = 768 / 864, not the mean of 100,0,100,100,100
    assert row["completeness_pct"] == pytest.approx(100 * 768 / 864)
    # availability time-weighted: (26 h observed - 6 h fault) / 26 h, not the mean of 75% and 100%
    assert row["observed_hours"] == pytest.approx(26.0) and row["fault_hours"] == pytest.approx(6.0)
    assert row["equipment_availability_pct"] == pytest.approx(100 * 20 / 26)
    # OEE from summed components (same hand example as tests/unit/test_production.py)
    assert row["oee"] == pytest.approx(0.644701, abs=1e-6)
    assert row["energy_tce"] == pytest.approx(48.0)
    assert row["enterprises_reporting"] == 4 and row["equipment_reporting"] == 5


def test_energy_intensity_counts_only_enterprises_with_output():
    row = _cell()
    assert row["output_units"] == pytest.approx(2300.0) and row["unit"] == "t"
    assert row["output_energy_tce"] == pytest.approx(45.0)  # A 15 + B 30; C and D report no output
    assert row["energy_intensity"] == pytest.approx(45.0 / 2300)


def test_top_consumers_are_the_three_largest_by_tce():
    assert _cell()["top_consumers"] == [B, A, D]


def test_other_libraries_get_no_rows_from_this_cell_and_pharma_is_left_out():
    base = enterprise_day(_energy(), state_hours(_states()), _production())
    assert library_daily(base, "chemicals", day=DAY).is_empty()
    total = sum(library_daily(base, lib, day=DAY)["energy_tce"].sum() for lib in INDUSTRY_LIBRARIES)
    assert total == pytest.approx(48.0)


def test_monthly_sums_days_and_compares_with_previous_month_and_year():
    base = enterprise_day(_energy(), state_hours(_states()), _production())
    days = [dt.date(2025, 11, 3), dt.date(2026, 10, 5), DAY, DAY + dt.timedelta(days=1)]
    daily = pl.concat([library_daily(base, "metallurgy", day=d) for d in days])
    energy = pl.concat([_energy().with_columns(day=pl.lit(d)) for d in days])
    monthly = library_monthly({"metallurgy": daily}, energy).sort("month")
    assert monthly["month"].to_list() == [dt.date(2025, 11, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)]
    nov = monthly.row(2, named=True)
    assert nov["days_reported"] == 2 and nov["energy_tce"] == pytest.approx(96.0)
    assert nov["oee"] == pytest.approx(0.644701, abs=1e-6)  # ratios recomputed from the summed components
    assert nov["completeness_pct"] == pytest.approx(100 * 768 / 864)
    assert nov["energy_tce_mom_pct"] == pytest.approx(100.0)  # 96 vs 48 tce in October
    assert nov["energy_tce_yoy_pct"] == pytest.approx(100.0)  # 96 vs 48 tce in November 2025
    assert nov["oee_mom_pct"] == pytest.approx(0.0)
    assert nov["enterprises_reporting"] == 4 and nov["top_consumers"] == [B, A, D]
    first = monthly.row(0, named=True)
    assert first["energy_tce_mom_pct"] is None and first["energy_tce_yoy_pct"] is None
