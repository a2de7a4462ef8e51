import datetime as dt

import polars as pl
import pytest

from assets.telemetry.transform import clean_telemetry
from assets.theme.energy import energy_daily, equipment_daily, last_meter_readings, meter_consumption
from tests.unit.helpers import bronze, equipment, series

DAY = dt.date(2026, 11, 2)
USCC = "91370102MA3C123469"


def consumption(values, register=1_000_000.0):
    return pl.DataFrame({"v": values}).select(meter_consumption(pl.col("v"), register)).to_series().to_list()


def test_meter_rollover_counts_positive_delta_only():
    assert consumption([999_990.0, 999_998.0, 5.0, 10.0]) == pytest.approx([0, 8, 7, 5])


def test_meter_reset_counts_from_zero_never_negative():
    assert consumption([500.0, 520.0, 3.0, 4.0]) == pytest.approx([0, 20, 3, 1])


def _readings(rows):
    return clean_telemetry(bronze(rows), equipment(), day=DAY, run_id="r").clean


def _meter(values, metric="energy", unit="kWh", start=dt.datetime(2026, 11, 2, 0, 0)):
    return series(metric, values, unit, start)


ENTERPRISES = pl.DataFrame({"uscc": [USCC], "city_code": ["3701"], "industry_code": ["26"]})


def test_energy_daily_counts_from_previous_day_baseline_and_converts_to_tce():
    prev = clean_telemetry(
        bronze(_meter([90, 95], start=dt.datetime(2026, 11, 1, 23, 30)), reading_day=dt.date(2026, 11, 1)),
        equipment(),
        day=dt.date(2026, 11, 1),
        run_id="r",
    ).clean
    today = _readings(
        _meter([100, 110, 2, 12])
        + [
            {"metric": "power", "value": v, "ts": f"2026-11-02T0{i}:00:00+08:00"}
            for i, v in enumerate(["10", "30"])
        ]
    )
    out = energy_daily(today, last_meter_readings(prev), equipment(), ENTERPRISES, day=DAY)
    row = out.row(0, named=True)
    # 95 -> 100 (5) + 10 + reset to 2 (2) + 10 = 27 kWh
    assert row["electricity_kwh"] == pytest.approx(27.0)
    assert row["energy_tce"] == pytest.approx(27.0 * 0.1229 / 1000)
    assert row["peak_load_kw"] == 30 and row["mean_load_kw"] == 20
    assert row["meter_drops"] == 1 and row["readings_received"] == 6
    assert row["readings_expected"] == 4 * 96  # pump: power, energy, pressure, running_state
    assert row["city_code"] == "3701"


def test_gas_and_coal_tce_factors():
    rows = _meter([0, 100], metric="gas_volume", unit="m³") + _meter([0, 2], metric="coal_mass", unit="t")
    out = energy_daily(_readings(rows), _readings([]).clear(), equipment(), ENTERPRISES, day=DAY)
    assert out["energy_tce"].item() == pytest.approx((100 * 1.2143 + 2 * 714.3) / 1000)


def test_equipment_daily_running_hours_starts_and_availability():
    states = [0, 1, 1, 2, 1, 3, 3, 1]
    rows = [
        {
            "metric": "running_state",
            "unit": "state",
            "value": str(s),
            "ts": (dt.datetime(2026, 11, 2) + dt.timedelta(minutes=15 * i)).isoformat() + "+08:00",
        }
        for i, s in enumerate(states)
    ] + [{"metric": "pressure", "unit": "MPa", "value": "13", "ts": "2026-11-02T05:00:00+08:00"}]
    out = equipment_daily(_readings(rows), equipment(), day=DAY).row(0, named=True)
    assert out["running_hours"] == pytest.approx(4 * 0.25)
    assert out["starts"] == 3
    assert out["fault_hours"] == pytest.approx(0.5)
    assert out["availability_pct"] == pytest.approx(100 * (2.0 - 0.5) / 2.0)
    assert out["limit_exceedances"] == 1
