"""Clean telemetry on a (series x slot) grid: running states drive loads, loads drive meters.

Slot t is local (Asia/Shanghai) time start + t * 15 min; day d = t // 96. Everything is numpy over whole
arrays; the only Python loops run over time slots (first-order lags) with equipment-wide vector steps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from simulator.province import Province
from warehouse.domain import (
    EQUIPMENT_TYPES,
    METRICS,
    READINGS_PER_DAY,
    SAMPLING_INTERVAL_MINUTES,
    STATE_FAULT,
    STATE_IDLE,
    STATE_RUNNING,
    STATE_STOPPED,
)

SLOTS = READINGS_PER_DAY
SLOTS_PER_HOUR = 60 // SAMPLING_INTERVAL_MINUTES
HOURS_PER_SLOT = SAMPLING_INTERVAL_MINUTES / 60
METRIC_NAMES: tuple[str, ...] = tuple(METRICS)
METRIC_INDEX = {m: i for i, m in enumerate(METRIC_NAMES)}
METER_SAFE_SHARE = 0.9  # a meter never passes this share of its register in clean data

_CONTINUOUS, _TWO_SHIFT, _DAY_SHIFT = 0, 1, 2
# P(continuous, two-shift, day-shift) by topic library.
_PATTERN_P = {
    "chemicals": (0.8, 0.15, 0.05),
    "metallurgy": (0.8, 0.15, 0.05),
    "power_energy": (0.85, 0.1, 0.05),
    "machinery": (0.15, 0.5, 0.35),
    "textiles": (0.4, 0.5, 0.1),
    "other": (0.4, 0.4, 0.2),
}
_METERS = tuple(m for m, spec in METRICS.items() if spec.kind == "cumulative")
_GAS_M3_PER_STEAM_T = (72.0, 82.0)
_COAL_T_PER_STEAM_T = (0.14, 0.17)


@dataclass
class CleanGrid:
    """Clean readings: one row per (equipment, metric) series, one column per 15-minute slot."""

    series_eq: np.ndarray  # int32 equipment index
    series_metric: np.ndarray  # int8 index into METRIC_NAMES
    values: np.ndarray  # float64 (S, T), canonical units, rounded to 3 decimals
    meter_rows: np.ndarray  # int64 series rows of cumulative meters
    meter_inc: np.ndarray  # float64 (len(meter_rows), T) consumption in each slot
    meter_start: np.ndarray  # float64 register value before slot 0
    days: int

    @property
    def n_slots(self) -> int:
        return self.values.shape[1]


def _paint(mask: np.ndarray, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat (row, col) index pairs of runs [start, start + length) clipped to the grid; for painting."""
    n_cols = mask.shape[1]
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = np.repeat(starts, lengths) + offsets
    r = np.repeat(rows, lengths)
    keep = cols < n_cols
    return r[keep].astype(np.int64) * n_cols + cols[keep]


def _episodes(rng: np.random.Generator, n_rows: int, days: int, rate: float, lo: int, hi: int):
    """Random (row, start slot, length) episodes: Poisson(rate) per row and day, lengths in [lo, hi]."""
    counts = rng.poisson(rate, size=(n_rows, days))
    rows, day = np.nonzero(counts)
    reps = counts[rows, day]
    rows, day = np.repeat(rows, reps), np.repeat(day, reps)
    starts = day * SLOTS + rng.integers(0, SLOTS, size=rows.size)
    return rows, starts, rng.integers(lo, hi + 1, size=rows.size)


def _lag(target: np.ndarray, alpha: np.ndarray, first: np.ndarray) -> np.ndarray:
    """First-order lag (thermal/pressure inertia) along time, vectorised over rows."""
    out = np.empty_like(target)
    x = np.array(first, dtype=np.float64)
    for t in range(target.shape[1]):
        x += alpha * (target[:, t] - x)
        out[:, t] = x
    return out


def _ar_noise(rng: np.random.Generator, shape: tuple[int, int], phi: float, sd: float) -> np.ndarray:
    """AR(1) noise along time: slow wander of loads and levels."""
    e = rng.normal(0.0, sd * np.sqrt(1 - phi * phi), size=shape)
    out = np.empty(shape)
    x = rng.normal(0.0, sd, size=shape[0])
    for t in range(shape[1]):
        x = phi * x + e[:, t]
        out[:, t] = x
    return out


def _ambient(start: dt.date, n_slots: int) -> np.ndarray:
    """Shandong outdoor temperature: seasonal mean (about 0 ℃ in January, 27 ℃ in July) and a daily swing."""
    t = np.arange(n_slots)
    doy = start.timetuple().tm_yday + t / SLOTS
    hour = (t % SLOTS) / SLOTS_PER_HOUR
    return 13.5 - 13.0 * np.cos(2 * np.pi * (doy - 20) / 365.25) + 4.0 * np.sin(2 * np.pi * (hour - 9) / 24)


def simulate_states(
    prov: Province, days: int, start: dt.date, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Running state (E, T) from shift patterns, idle and fault episodes; and a load factor (E, T)."""
    n_eq, n_slots = len(prov.eq_type), days * SLOTS
    lib = prov.eq_library
    probs = np.array([_PATTERN_P[x] for x in lib])
    pattern = (rng.random(n_eq)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    is_tr = prov.eq_type == "transformer"
    pattern[is_tr] = _CONTINUOUS
    jitter = rng.integers(-2, 3, size=n_eq)
    first = np.where(pattern == _TWO_SHIFT, 24, np.where(pattern == _DAY_SHIFT, 32, 0)) + jitter
    last = np.where(pattern == _TWO_SHIFT, 88, np.where(pattern == _DAY_SHIFT, 68, SLOTS)) + jitter
    first[pattern == _CONTINUOUS], last[pattern == _CONTINUOUS] = 0, SLOTS
    weekday = (start.weekday() + np.arange(days)) % 7
    works_sat = rng.random(n_eq) < 0.3
    works_sun = rng.random(n_eq) < 0.5
    workday = np.ones((n_eq, days), dtype=bool)
    two, day_shift = pattern == _TWO_SHIFT, pattern == _DAY_SHIFT
    workday[two] = (weekday[None, :] != 6) | works_sun[two, None]
    workday[day_shift] = (weekday[None, :] < 5) | ((weekday[None, :] == 5) & works_sat[day_shift, None])
    sod = np.arange(n_slots) % SLOTS
    sched = (sod[None, :] >= first[:, None]) & (sod[None, :] < last[:, None])
    sched &= np.repeat(workday, SLOTS, axis=1)

    flat = sched.reshape(-1)
    rows, starts, lengths = _episodes(rng, n_eq, days, 0.02, 8, 32)  # planned maintenance stops
    keep = ~is_tr[rows]
    flat[_paint(sched, rows[keep], starts[keep], lengths[keep])] = False

    state = np.where(sched, STATE_RUNNING, STATE_STOPPED).astype(np.int8)
    nxt = np.zeros_like(sched)
    nxt[:, :-1] = sched[:, 1:]
    prv = np.zeros_like(sched)
    prv[:, 1:] = sched[:, :-1]
    state[~sched & (nxt | prv)] = STATE_IDLE  # warm-up before a shift, run-down after
    sflat = state.reshape(-1)
    rows, starts, lengths = _episodes(rng, n_eq, days, 0.6, 1, 8)
    idx = _paint(state, rows, starts, lengths)
    idx = idx[(sflat[idx] == STATE_RUNNING) & ~is_tr[idx // n_slots]]
    sflat[idx] = STATE_IDLE
    rows, starts, lengths = _episodes(rng, n_eq, days, 0.015, 2, 12)
    idx = _paint(state, rows, starts, lengths)
    idx = idx[(sflat[idx] != STATE_STOPPED) & ~is_tr[idx // n_slots]]
    sflat[idx] = STATE_FAULT
    state[is_tr] = STATE_RUNNING

    hour = sod / SLOTS_PER_HOUR
    profile = np.sin(2 * np.pi * (hour - 8) / 24)[None, :].repeat(n_eq, axis=0)
    lunch = (hour >= 12) & (hour < 13)
    profile[np.ix_(day_shift, lunch)] -= 1.5
    base = rng.uniform(0.55, 0.85, size=n_eq)
    amp = rng.uniform(0.04, 0.12, size=n_eq)
    day_var = np.repeat(rng.normal(0, 0.04, size=(n_eq, days)), SLOTS, axis=1)
    load = base[:, None] + amp[:, None] * profile + day_var + _ar_noise(rng, (n_eq, n_slots), 0.85, 0.03)
    # Transformers carry their site: load follows the share of the site's cells that are running.
    running = (state == STATE_RUNNING) & ~is_tr[:, None]
    sites = prov.eq_site
    bounds = np.flatnonzero(np.r_[True, sites[1:] != sites[:-1]])
    n_run = np.add.reduceat(running.astype(np.float64), bounds, axis=0)
    n_cells = np.add.reduceat((~is_tr).astype(np.float64), bounds)
    share = np.divide(n_run, n_cells[:, None], out=np.full_like(n_run, 0.5), where=n_cells[:, None] > 0)
    site_row = np.repeat(np.arange(bounds.size), np.diff(np.r_[bounds, n_eq]))
    load[is_tr] = 0.25 + 0.6 * share[site_row[is_tr]] + 0.5 * (load[is_tr] - base[is_tr, None])
    return state, np.clip(load, 0.15, 1.0)


def simulate(prov: Province, days: int, start: dt.date, rng: np.random.Generator) -> CleanGrid:
    """All series of all equipment for `days` local days from `start` 00:00, in canonical units."""
    if days < 1:
        raise ValueError("days must be >= 1")
    n_eq, n_slots = len(prov.eq_type), days * SLOTS
    state, load = simulate_states(prov, days, start, rng)
    types = prov.eq_type
    rated = prov.equipment["rated_power_kw"].to_numpy()
    running, idle, fault = state == STATE_RUNNING, state == STATE_IDLE, state == STATE_FAULT
    ambient = _ambient(start, n_slots)[None, :]

    def having(metric: str) -> np.ndarray:
        return np.flatnonzero([metric in EQUIPMENT_TYPES[t] for t in types])

    def noise(rows: int) -> np.ndarray:
        return rng.normal(0.0, 1.0, size=(rows, n_slots))

    # Electrical load: rated x load when running, a stand-by share when idle, exactly 0 stopped or tripped.
    idle_share = rng.uniform(0.06, 0.15, size=n_eq)[:, None]
    power = np.where(running, rated[:, None] * load * (1 + 0.008 * noise(n_eq)), 0.0)
    power = np.where(idle, rated[:, None] * idle_share * (1 + 0.03 * noise(n_eq)), power)
    is_tr = types == "transformer"
    power[is_tr] = rated[is_tr, None] * 0.85 * load[is_tr] * (1 + 0.01 * noise(int(is_tr.sum())))
    power = np.round(np.clip(power, 0.0, None), 3)
    series_arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {"power": (np.arange(n_eq), power)}
    series_arrays["running_state"] = (np.arange(n_eq), state.astype(np.float64))

    eq = having("steam_flow")
    st, run, idl, act = prov.eq_steam_tph[eq, None], running[eq], idle[eq], running[eq] | idle[eq]
    steam = np.where(run, st * load[eq] * (1 + 0.01 * noise(eq.size)), 0.0)
    steam = np.where(idl, st * 0.1 * (1 + 0.05 * noise(eq.size)), steam)
    steam = np.where(act, steam, np.abs(0.01 * noise(eq.size)))  # flow-meter zero drift when stopped
    steam = np.round(np.clip(steam, 0.0, None), 3)
    series_arrays["steam_flow"] = (eq, steam)
    steam_of = np.full(n_eq, -1)
    steam_of[eq] = np.arange(eq.size)

    # Motor current from power: I = P / (sqrt(3) U pf eta); 0.38 kV up to 250 kW, 10 kV above.
    eq = having("current")
    volts = np.where(rated[eq] <= 250, 380.0, 10_000.0)
    pf_eta = rng.uniform(0.78, 0.88, size=eq.size)
    current = power[eq] * 1000.0 / (np.sqrt(3) * volts * pf_eta)[:, None] * (1 + 0.005 * noise(eq.size))
    series_arrays["current"] = (eq, np.clip(current, 0.0, None))

    eq = having("vibration")
    v0 = rng.uniform(1.2, 3.5, size=eq.size)[:, None]
    vibration = np.where(
        running[eq],
        v0 * (0.85 + 0.3 * load[eq]) + 0.08 * noise(eq.size),
        0.08 + 0.03 * np.abs(noise(eq.size)),
    )
    vibration = np.where(idle[eq], 0.5 * v0 + 0.05 * noise(eq.size), vibration)
    series_arrays["vibration"] = (eq, vibration)

    # Temperatures and pressures move towards a state-dependent target through a first-order lag.
    eq = having("temperature")
    ty, amb, ld = types[eq], ambient, load[eq]
    boiler, reactor = np.isin(ty, ["boiler", "coal_boiler"]), ty == "reactor"
    n = eq.size
    t_set = np.where(
        boiler,
        np.where(ty == "coal_boiler", rng.uniform(140, 190, n), rng.uniform(130, 175, n)),
        np.where(rng.random(n) < 0.3, rng.uniform(320, 430, n), rng.uniform(60, 300, n)),
    )[:, None]
    target = np.where(running[eq], amb + (t_set - amb) * (0.9 + 0.1 * ld), amb + 5.0)
    target = np.where(idle[eq], amb + 0.6 * (t_set - amb), target)
    target = np.where(fault[eq], amb + 0.8 * (t_set - amb), target)
    tr = ty == "transformer"
    rise = rng.uniform(35, 55, size=n)[:, None]
    target[tr] = (amb + 8.0 + rise * ld**2)[tr]
    temperature = _lag(target, np.where(boiler, 0.25, np.where(reactor, 0.12, 0.08)), target[:, 0])
    temperature += noise(n) * (0.15 + 0.002 * np.abs(temperature))
    series_arrays["temperature"] = (eq, temperature)
    hot_reactor = np.zeros(n_eq, dtype=bool)
    hot_reactor[eq] = reactor & (t_set[:, 0] >= 0.6 * METRICS["temperature"].alarm_high)

    eq = having("pressure")
    ty, n = types[eq], eq.size
    high_pressure = (ty == "coal_boiler") & (prov.eq_library[eq] == "power_energy") & (rng.random(n) < 0.5)
    reactor_p = np.where(rng.random(n) < 0.25, rng.uniform(4.0, 10.0, n), rng.uniform(0.1, 2.5, n))
    p_set = np.select(
        [ty == "boiler", high_pressure, ty == "coal_boiler", ty == "reactor", ty == "compressor"],
        [
            rng.uniform(0.8, 1.6, n),
            rng.uniform(9.3, 10.2, n),
            rng.uniform(2.5, 3.9, n),
            reactor_p,
            rng.uniform(0.6, 0.85, n),
        ],
        rng.uniform(0.3, 2.5, n),  # pumps
    )[:, None]
    p_rest = rng.uniform(0.05, 0.12, size=n)[:, None]
    target = np.where(running[eq], p_set * (0.97 + 0.03 * load[eq]), p_rest)
    target = np.where(idle[eq], 0.85 * p_set, target)
    target = np.where(fault[eq], 0.4 * p_set, target)
    alpha = np.where(np.isin(ty, ["boiler", "coal_boiler"]), 0.15, np.where(ty == "reactor", 0.2, 0.6))
    pressure = _lag(target, alpha, target[:, 0])
    pressure += noise(n) * (0.003 * pressure + 0.001)
    series_arrays["pressure"] = (eq, np.clip(pressure, 0.0, None))
    high_p = np.zeros(n_eq, dtype=bool)
    high_p[eq] = p_set[:, 0] >= 0.6 * METRICS["pressure"].alarm_high

    eq = having("level")
    n = eq.size
    l_set = rng.uniform(40, 85, size=n)[:, None]
    period = rng.uniform(0.3, 1.5, size=n)[:, None] * SLOTS
    phase = rng.uniform(0, 2 * np.pi, size=n)[:, None]
    level = l_set + 6 * np.sin(2 * np.pi * np.arange(n_slots)[None, :] / period + phase)
    level += _ar_noise(rng, (n, n_slots), 0.9, 1.5) + 0.3 * noise(n)
    series_arrays["level"] = (eq, np.clip(level, 0.5, 99.5))
    high_level = np.zeros(n_eq, dtype=bool)
    high_level[eq] = l_set[:, 0] >= 0.6 * METRICS["level"].alarm_high

    # Process excursions above the alarm limit while running: real, in-range values, not defects.
    excursions = {
        "temperature": (hot_reactor, 0.04),
        "pressure": (high_p, 0.04),
        "level": (high_level, 0.04),
        "vibration": (types == "motor", 0.01),
        "steam_flow": (prov.eq_steam_tph >= 0.85 * METRICS["steam_flow"].alarm_high, 0.04),
    }
    for metric, (eligible, rate) in excursions.items():
        eq, arr = series_arrays[metric]
        rows, starts, lengths = _episodes(rng, eq.size, days, rate, 2, 8)
        idx = _paint(arr, rows, starts, lengths)
        idx = idx[eligible[eq[idx // n_slots]] & running[eq].reshape(-1)[idx]]
        spec = METRICS[metric]
        bump = np.minimum(spec.alarm_high * rng.uniform(1.01, 1.045, size=idx.size), spec.high * 0.99)
        flat = arr.reshape(-1)
        flat[idx] = np.maximum(flat[idx], bump)

    # Series: one per (equipment, metric), equipment order, metric order of EQUIPMENT_TYPES.
    s_eq, s_metric = [], []
    for e, t in enumerate(types):
        for m in EQUIPMENT_TYPES[t]:
            s_eq.append(e)
            s_metric.append(METRIC_INDEX[m])
    series_eq = np.array(s_eq, dtype=np.int32)
    series_metric = np.array(s_metric, dtype=np.int8)
    values = np.empty((series_eq.size, n_slots))
    for m, (eq, arr) in series_arrays.items():
        rows = np.flatnonzero(series_metric == METRIC_INDEX[m])
        pos = np.full(n_eq, -1)
        pos[eq] = np.arange(eq.size)
        spec = METRICS[m]
        values[rows] = np.round(np.clip(arr[pos[series_eq[rows]]], spec.low, spec.high), 3)

    # Cumulative meters count the consumption of each slot; they start where they never wrap.
    meter_rows = np.flatnonzero(np.isin(series_metric, [METRIC_INDEX[m] for m in _METERS]))
    meter_inc = np.empty((meter_rows.size, n_slots))
    meter_start = np.empty(meter_rows.size)
    factor = {
        "gas_volume": rng.uniform(*_GAS_M3_PER_STEAM_T, size=n_eq),
        "coal_mass": rng.uniform(*_COAL_T_PER_STEAM_T, size=n_eq),
    }
    u = rng.uniform(0.02, 0.85, size=meter_rows.size)
    for i, row in enumerate(meter_rows):
        name, e = METRIC_NAMES[series_metric[row]], series_eq[row]
        if name == "energy":
            inc = power[e] * HOURS_PER_SLOT
        else:
            active = running[e] | idle[e]
            inc = np.where(active, steam[steam_of[e]] * HOURS_PER_SLOT * factor[name][e], 0.0)
        register = METRICS[name].register_size
        total = inc.sum()
        if total > METER_SAFE_SHARE * register:  # only for very long simulations: keep the meter in range
            inc = inc * (0.8 * register / total)
            total = inc.sum()
        meter_inc[i] = inc
        meter_start[i] = np.round(u[i] * (METER_SAFE_SHARE * register - total), 3)
    values[meter_rows] = meter_values(meter_start, meter_inc)
    return CleanGrid(series_eq, series_metric, values, meter_rows, meter_inc, meter_start, days)


def meter_values(start: np.ndarray, inc: np.ndarray) -> np.ndarray:
    """Register readings at the end of each slot, rounded to 3 decimals (non-decreasing)."""
    return np.round(start[:, None] + np.cumsum(inc, axis=1), 3)
