"""Energy and equipment theme libraries: silver readings of one local day -> daily figures.

Plain functions over polars frames; the rules they implement are cited where they are applied.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from assets.enterprise.golden import current
from assets.telemetry.transform import ROLLOVER_SHARE
from warehouse.domain import (
    CARRIER_UNIT,
    EQUIPMENT_TYPES,
    KGCE_PER_UNIT,
    METRICS,
    READINGS_PER_DAY,
    SAMPLING_INTERVAL_MINUTES,
    STATE_FAULT,
    STATE_RUNNING,
)
from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY

_HOURS_PER_READING = SAMPLING_INTERVAL_MINUTES / 60
_CARRIER_COLUMN = {"electricity": "electricity_kwh", "natural_gas": "natural_gas_m3", "coal": "coal_t"}
_METERS = {m.name: m for m in METRICS.values() if m.kind == "cumulative"}
METER_METRICS = sorted(_METERS)  # the cumulative meters energy is counted from
_ALARMS = pl.DataFrame(
    {"metric": list(METRICS), "alarm_high": [m.alarm_high for m in METRICS.values()]},
    schema_overrides={"alarm_high": pl.Float64},
)


def meter_consumption(values: pl.Expr, register_size: float) -> pl.Expr:
    """Consumption between consecutive cumulative readings: positive deltas only.

    A drop from near the register size is a rollover (value + size - previous); any other drop is a
    reset to zero on replacement (the new value is what was consumed since). Never negative.
    """
    prev = values.shift(1)
    delta = values - prev
    rollover = prev > ROLLOVER_SHARE * register_size
    return (
        pl.when(prev.is_null())
        .then(0.0)
        .when(delta >= 0)
        .then(delta)
        .when(rollover)
        .then(values + register_size - prev)
        .otherwise(values)
        .fill_null(0.0)
    )


def last_meter_readings(silver_previous_day: pl.DataFrame) -> pl.DataFrame:
    """The last reading of each meter series on the previous day: the baseline at local midnight."""
    return (
        silver_previous_day.filter(pl.col("quality_flag") != "bad")
        .sort("ts_utc")
        .group_by("equipment_id", "metric")
        .last()
    )


def energy_by_equipment(
    readings: pl.DataFrame, baseline: pl.DataFrame, kgce: dict[str, float]
) -> pl.DataFrame:
    """Per equipment: consumption per carrier from cumulative meters.

    `baseline` holds the last meter reading before the day (from the previous day), so that the
    interval crossing local midnight is counted in the day it ends in (daily figures start at 00:00).
    """
    meters = pl.concat(
        [
            baseline.select("equipment_id", "metric", "ts_utc", "value").with_columns(in_day=pl.lit(False)),
            readings.filter(pl.col("quality_flag") != "bad")
            .select("equipment_id", "metric", "ts_utc", "value")
            .with_columns(in_day=pl.lit(True)),
        ]
    ).filter(pl.col("metric").is_in(list(_METERS)))
    parts = []
    for name, meter in _METERS.items():
        series = meters.filter(pl.col("metric") == name).sort("equipment_id", "ts_utc")
        used = series.with_columns(
            used=meter_consumption(pl.col("value"), meter.register_size or float("inf")).over("equipment_id")
        ).filter(pl.col("in_day"))
        parts.append(
            used.group_by("equipment_id").agg(
                pl.col("used").sum().alias(_CARRIER_COLUMN[meter.carrier or ""])
            )
        )
    out = readings.select("equipment_id").unique()
    for part in parts:
        out = out.join(part, on="equipment_id", how="left")
    tce = sum(pl.col(col).fill_null(0.0) * kgce[carrier] for carrier, col in _CARRIER_COLUMN.items()) / 1000
    return out.with_columns(energy_tce=tce)


def readings_expected(equipment: pl.DataFrame, *, slots: int = READINGS_PER_DAY) -> pl.DataFrame:
    """Readings expected per equipment in `slots` 15-minute slots: every metric of its type once a slot.

    The denominator of the national day_complete rule (theme.energy_daily.readings_expected) and of
    catalog.feed_status's completeness so far.
    """
    n_metrics = pl.DataFrame(
        {"equipment_type": list(EQUIPMENT_TYPES), "n_metrics": [len(m) for m in EQUIPMENT_TYPES.values()]}
    )
    return (
        equipment.select("equipment_id", "uscc", "equipment_type")
        .join(n_metrics, on="equipment_type", how="left")
        .select("equipment_id", "uscc", readings_expected=pl.col("n_metrics") * slots)
    )


def energy_daily(
    readings: pl.DataFrame,
    baseline: pl.DataFrame,
    equipment: pl.DataFrame,
    enterprises: pl.DataFrame,
    *,
    day: dt.date,
    kgce: dict[str, float] = KGCE_PER_UNIT,
) -> pl.DataFrame:
    """theme.energy_daily for one local day: enterprise x equipment, energy per carrier and in tce."""
    assert set(_CARRIER_COLUMN) == set(CARRIER_UNIT)
    energy = energy_by_equipment(readings, baseline, kgce)
    power = readings.filter((pl.col("metric") == "power") & (pl.col("quality_flag") == "good"))
    load = power.group_by("equipment_id").agg(
        peak_load_kw=pl.col("value").max(), mean_load_kw=pl.col("value").mean()
    )
    counts = readings.group_by("equipment_id").agg(
        pl.len().alias("readings_received"),
        *_readings_flagged(),
        meter_drops=(pl.col("quality_reason") == "meter_drop").sum(),
    )
    out = (
        counts.join(energy, on="equipment_id", how="left")
        .join(load, on="equipment_id", how="left")
        .join(equipment.select("equipment_id", "uscc", "equipment_type"), on="equipment_id", how="left")
        .join(current(enterprises).select("uscc", "city_code", "industry_code"), on="uscc", how="left")
        .join(readings_expected(equipment).drop("uscc"), on="equipment_id", how="left")
        .with_columns(day=pl.lit(day))
        .with_columns(
            completeness_pct=pl.min_horizontal(
                pl.lit(100.0), 100.0 * pl.col("readings_received") / pl.col("readings_expected")
            )
        )
    )
    return ENERGY_DAILY.conform(out).sort("equipment_id")


def _readings_flagged() -> list[pl.Expr]:
    """readings_good, readings_uncertain, readings_bad: an equipment's readings by silver's quality_flag."""
    return [(pl.col("quality_flag") == f).sum().alias(f"readings_{f}") for f in ("good", "uncertain", "bad")]


def equipment_daily(readings: pl.DataFrame, equipment: pl.DataFrame, *, day: dt.date) -> pl.DataFrame:
    """theme.equipment_daily: running hours, starts, availability and alarm-limit exceedances."""
    state = readings.filter(pl.col("metric") == "running_state").sort("equipment_id", "ts_utc")
    running = pl.col("value") == STATE_RUNNING
    states = (
        state.with_columns(
            start=(running & (pl.col("value").shift(1).over("equipment_id") != STATE_RUNNING)).fill_null(
                False
            )
        )
        .group_by("equipment_id")
        .agg(
            running_hours=running.sum() * _HOURS_PER_READING,
            fault_hours=(pl.col("value") == STATE_FAULT).sum() * _HOURS_PER_READING,
            observed_hours=pl.len() * _HOURS_PER_READING,
            starts=pl.col("start").sum(),
        )
    )
    exceed = (
        readings.filter(pl.col("quality_flag") == "good")
        .join(_ALARMS, on="metric", how="left")
        .group_by("equipment_id")
        .agg(limit_exceedances=(pl.col("value") > pl.col("alarm_high")).fill_null(False).sum())
    )
    flags = readings.group_by("equipment_id").agg(*_readings_flagged())
    out = (
        flags.join(exceed, on="equipment_id", how="left")
        .join(states, on="equipment_id", how="left")
        .join(equipment.select("equipment_id", "uscc", "equipment_type"), on="equipment_id", how="left")
        .with_columns(
            day=pl.lit(day),
            availability_pct=100.0
            * (pl.col("observed_hours") - pl.col("fault_hours"))
            / pl.col("observed_hours"),
            limit_exceedances=pl.col("limit_exceedances").fill_null(0),
        )
    )
    return EQUIPMENT_DAILY.conform(out).sort("equipment_id")
