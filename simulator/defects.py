"""Where the defects go: a plan over the clean (series x slot) grid, made before any file is written.

Each cell carries at most one defect kind. Sequence defects (stuck runs, meter resets and rollovers) are
placed first in windows free of gaps, late blocks and other defects, point defects afterwards in what is
left. The plan then nudges clean values by 0.001 where a stuck-sensor check would otherwise fire by
chance, and verifies the flags the pipeline must find from exactly what it will see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.defect_kinds import (
    QUARANTINE_KINDS,
    UNIT_NAMES,
    VARIANTS,
    Buffer,
    DefectPlan,
    K,
    variant_values,
)
from simulator.telemetry import METRIC_NAMES, SLOTS, SLOTS_PER_HOUR, CleanGrid, meter_values
from warehouse.domain import METRICS, UNIT_CONVERSIONS

# Share of defective records by point kind (per-record probability = defect_rate x weight).
POINT_WEIGHTS: dict[str, float] = {
    "nan_value": 0.14,
    "bad_value": 0.09,
    "bad_timestamp": 0.09,
    "malformed_line": 0.09,
    "unknown_unit": 0.07,
    "unknown_equipment": 0.07,
    "unit_variant": 0.16,
    "out_of_range": 0.09,
    "exact_duplicate": 0.11,
}
STUCK_SHARE = 0.06  # of defective records, in runs of STUCK_LEN
STUCK_LEN = 12
STUCK_FLAGGED = STUCK_LEN - 3  # the pipeline flags a reading once 3 previous readings equal it
METER_EVENTS_PER_SERIES_DAY = 1.0  # x defect_rate, for resets and for rollovers each
GAP_SHARE = 0.5  # missing readings, x defect_rate x readings
LATE_SHARE = 0.5  # readings sent 2-6 days late, x defect_rate x readings
LATE_BEYOND_SHARE = 0.1  # readings re-sent 10-12 days before start, x defect_rate x readings


def _metric_arrays(grid: CleanGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    kinds = np.array([METRICS[m].kind for m in METRIC_NAMES])[grid.series_metric]
    low = np.array([METRICS[m].low for m in METRIC_NAMES], dtype=float)[grid.series_metric]
    high = np.array([METRICS[m].high for m in METRIC_NAMES], dtype=float)[grid.series_metric]
    return kinds, low, high, grid.series_metric


def plan_defects(
    grid: CleanGrid,
    series_gateway: np.ndarray,
    gateway_format: np.ndarray,
    rate: float,
    rng: np.random.Generator,
    outage: np.ndarray | None = None,
) -> DefectPlan:
    """Place every record-level defect, gap, late block and old re-send; modify the grid values in place.

    `outage` (S, T) marks readings never sent because a feed stopped (simulator.feeds); they are gaps
    placed first, so no other defect lands on them.
    """
    n_series, n_slots = grid.values.shape
    days = grid.days
    plan = DefectPlan(
        kind=np.zeros((n_series, n_slots), dtype=np.int8),
        choice=np.zeros((n_series, n_slots), dtype=np.uint16),
        gap=np.zeros((n_series, n_slots), dtype=bool) if outage is None else outage.copy(),
        late=np.zeros((n_series, n_slots), dtype=np.int8),
    )
    if rate > 0:
        n_cells = n_series * n_slots
        gws = _Gateways(_gateway_rows(series_gateway, int(gateway_format.size)), days, n_cells)
        _late_blocks(plan, gws, rate, rng)
        _gaps(plan, rate, rng)
        reserved = np.zeros((n_series, n_slots), dtype=bool)
        _stuck_runs(plan, grid, reserved, rate, rng)
        _meter_events(plan, grid, reserved, rate, rng)
        _point_defects(plan, grid, reserved, series_gateway, gateway_format, rate, rng)
        _buffers(plan, gws, rate, rng)
    _separate_equal_neighbours(plan, grid)
    plan.flags = verify_flags(plan, grid)
    return plan


def _gateway_rows(series_gateway: np.ndarray, n_gateways: int) -> list[np.ndarray]:
    order = np.argsort(series_gateway, kind="stable")
    bounds = np.searchsorted(series_gateway[order], np.arange(n_gateways + 1))
    return [order[bounds[g] : bounds[g + 1]] for g in range(n_gateways)]


@dataclass(frozen=True)
class _Gateways:
    """What the file-level defects (late blocks, old buffers) are placed over: the series each gateway
    sends, the days, all readings, and how many a gateway sends in an hour."""

    rows: list[np.ndarray]
    days: int
    n_cells: int

    @property
    def per_hour(self) -> float:
        return self.n_cells / (len(self.rows) * self.days * 24)


def _late_blocks(plan: DefectPlan, gws: _Gateways, rate: float, rng: np.random.Generator) -> None:
    """Hourly blocks of day D sent in the gateway's file of day D + k, k in 2..6 (within the watermark)."""
    gw_rows, days, n_cells = gws.rows, gws.days, gws.n_cells
    if days < 3:
        return
    n_gw = len(gw_rows)
    per_block = gws.per_hour
    n_blocks = min(max(1, round(rate * LATE_SHARE * n_cells / per_block)), n_gw * (days - 2) * 24)
    picks = rng.choice(n_gw * (days - 2) * 24, size=n_blocks, replace=False)
    g, rest = np.divmod(picks, (days - 2) * 24)
    d, h = np.divmod(rest, 24)
    k = rng.integers(2, 7, size=n_blocks)
    k = np.minimum(k, days - 1 - d)
    for gi, di, hi, ki in zip(g, d, h, k, strict=True):
        t0 = di * SLOTS + hi * SLOTS_PER_HOUR
        plan.late[gw_rows[gi], t0 : t0 + SLOTS_PER_HOUR] = ki


def _gaps(plan: DefectPlan, rate: float, rng: np.random.Generator) -> None:
    """Runs of 1-16 consecutive readings a series never sent."""
    n_series, n_slots = plan.gap.shape
    n_runs = max(1, round(rate * GAP_SHARE * n_series * n_slots / 8.5))
    rows = rng.integers(0, n_series, size=n_runs)
    starts = rng.integers(0, n_slots, size=n_runs)
    lengths = rng.integers(1, 17, size=n_runs)
    total = int(lengths.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    cols = np.repeat(starts, lengths) + offsets
    keep = cols < n_slots
    plan.gap[np.repeat(rows, lengths)[keep], cols[keep]] = True


def _free(plan: DefectPlan, reserved: np.ndarray) -> np.ndarray:
    """Cells a sequence defect may use: sent on time, no defect, not next to one."""
    return ~plan.gap & (plan.kind == 0) & ~reserved & (plan.late == 0)


def _stuck_runs(
    plan: DefectPlan, grid: CleanGrid, reserved: np.ndarray, rate: float, rng: np.random.Generator
) -> None:
    """Runs of STUCK_LEN readings of an instant series frozen at a non-zero value, inside one local day."""
    kinds, low, high, _ = _metric_arrays(grid)
    rows = np.flatnonzero(kinds == "instant")
    n_series, n_slots = plan.kind.shape
    want = max(1, round(rate * STUCK_SHARE * n_series * n_slots / STUCK_LEN))
    if rows.size == 0:
        return
    n_cand = 4 * want + 20
    cand_rows = rows[rng.integers(0, rows.size, size=n_cand)]
    cand_t0 = rng.integers(0, grid.days, size=n_cand) * SLOTS + rng.integers(
        1, SLOTS - STUCK_LEN, size=n_cand
    )
    free = _free(plan, reserved)
    placed = 0
    for r, t0 in zip(cand_rows, cand_t0, strict=True):
        v = grid.values[r, t0]
        if (
            placed == want
            or not free[r, t0 - 1 : t0 + STUCK_LEN + 1].all()
            or v == 0
            or not low[r] <= v <= high[r]
        ):
            continue
        grid.values[r, t0 : t0 + STUCK_LEN] = v
        plan.kind[r, t0 : t0 + STUCK_LEN] = K["stuck_sensor"]
        reserved[r, t0 - 1 : t0 + STUCK_LEN + 1] = True
        free[r, t0 - 1 : t0 + STUCK_LEN + 1] = False
        placed += 1
    plan.stuck_runs = placed


def _meter_events(
    plan: DefectPlan, grid: CleanGrid, reserved: np.ndarray, rate: float, rng: np.random.Generator
) -> None:
    """Meter replacements (reset to 0) and register rollovers, one per meter at most, never at a day start."""
    n_meters = grid.meter_rows.size
    if n_meters == 0:
        return
    each = max(1, round(rate * METER_EVENTS_PER_SERIES_DAY * n_meters * grid.days))
    each = min(each, max(1, n_meters // 3))
    order = rng.permutation(n_meters)
    events = [("meter_reset", i) for i in order[:each]] + [
        ("meter_rollover", i) for i in order[each : 2 * each]
    ]
    free = _free(plan, reserved)
    sod = np.arange(grid.n_slots) % SLOTS
    for name, i in events:
        row, inc = grid.meter_rows[i], grid.meter_inc[i]
        ok = free[row].copy()
        window = ok & np.roll(ok, 1) & np.roll(ok, -1) & (sod >= 1) & (sod <= SLOTS - 2)
        if name == "meter_rollover":
            window &= inc >= 0.5
        else:
            window &= np.roll(grid.values[row], 1) > inc + 1.0
        candidates = np.flatnonzero(window)
        if candidates.size == 0:
            continue
        r = int(candidates[rng.integers(candidates.size)])
        cum = np.cumsum(inc)
        if name == "meter_reset":  # a new meter, starting from 0 at the beginning of slot r
            grid.values[row, r:] = np.round(cum[r:] - cum[r - 1], 3)
        else:  # the register passes its size during slot r and wraps
            register = METRICS[METRIC_NAMES[grid.series_metric[row]]].register_size
            start = np.round(register - cum[r - 1] - inc[r] * rng.uniform(0.2, 0.8), 3)
            vals = meter_values(np.array([start]), inc[None, :])[0]
            vals[r:] = np.round(vals[r:] - register, 3)
            grid.values[row] = vals
            grid.meter_start[i] = start
        plan.kind[row, r] = K[name]
        reserved[row, r - 1 : r + 2] = True
        free[row, r - 1 : r + 2] = False


def _point_defects(
    plan: DefectPlan,
    grid: CleanGrid,
    reserved: np.ndarray,
    series_gateway: np.ndarray,
    gateway_format: np.ndarray,
    rate: float,
    rng: np.random.Generator,
) -> None:
    """Single-record defects drawn per cell; a kind the cell cannot carry is redrawn among the others."""
    n_series, n_slots = plan.kind.shape
    n_cells = n_series * n_slots
    share = 1 - STUCK_SHARE
    n = rng.binomial(n_cells, min(1.0, rate * share))
    cells = np.unique(rng.integers(0, n_cells, size=n))
    kinds_flat, gap_flat, res_flat = plan.kind.reshape(-1), plan.gap.reshape(-1), reserved.reshape(-1)
    cells = cells[(kinds_flat[cells] == 0) & ~gap_flat[cells] & ~res_flat[cells]]
    names = list(POINT_WEIGHTS)
    w = np.array(list(POINT_WEIGHTS.values()))
    drawn = np.array([K[x] for x in names], dtype=np.int8)[
        rng.choice(len(names), size=cells.size, p=w / w.sum())
    ]
    choice = rng.integers(0, 65536, size=cells.size).astype(np.uint16)
    rows, cols = np.divmod(cells, n_slots)
    metric_kind, low, high, metric = _metric_arrays(grid)
    values = grid.values[rows, cols]
    text_format = np.isin(gateway_format[series_gateway[rows]], ["csv", "jsonl"])
    has_variant = np.array([bool(VARIANTS[m]) for m in range(len(METRIC_NAMES))])[metric[rows]]
    fallback = (
        ((drawn == K["malformed_line"]) & ~text_format)
        | ((drawn == K["out_of_range"]) & (metric_kind[rows] != "instant"))
        | ((drawn == K["unit_variant"]) & ~has_variant)
    )
    anywhere = [x for x in names if x not in ("malformed_line", "out_of_range", "unit_variant")]
    w_any = np.array([POINT_WEIGHTS[x] for x in anywhere])
    redraw = rng.choice(len(anywhere), size=int(fallback.sum()), p=w_any / w_any.sum())
    drawn[fallback] = np.array([K[x] for x in anywhere], dtype=np.int8)[redraw]
    # A meter reading in a variant unit must convert back exactly, or a meter would seem to step back.
    variant = drawn == K["unit_variant"]
    x, unit = variant_values(values[variant], metric[rows][variant], choice[variant])
    mult = np.array([UNIT_CONVERSIONS[UNIT_NAMES[u]][1] for u in unit])
    off = np.array([UNIT_CONVERSIONS[UNIT_NAMES[u]][2] for u in unit])
    inexact = (x * mult + off != values[variant]) & (metric_kind[rows][variant] == "cumulative")
    drawn[np.flatnonzero(variant)[inexact]] = K["clean"]
    # Out of range: far above the physical maximum or below the minimum, distinct per record.
    oor = drawn == K["out_of_range"]
    c = choice[oor].astype(float)
    above = choice[oor] % 2 == 0
    grid.values[rows[oor], cols[oor]] = np.round(
        np.where(
            above, high[rows[oor]] * (1.5 + (c % 97) / 10), low[rows[oor]] - 1 - (c % 500) - values[oor] % 1
        ),
        3,
    )
    plan.kind[rows, cols] = drawn
    plan.choice[rows, cols] = choice


def _buffers(plan: DefectPlan, gws: _Gateways, rate: float, rng: np.random.Generator) -> None:
    """A few gateways flush a buffer of readings from 10-12 days before start into a normal file."""
    days, n_cells = gws.days, gws.n_cells
    n_gw = len(gws.rows)
    per_hour = gws.per_hour
    n_buffers = min(n_gw, max(1, round(rate * n_gw * 5)))
    hours_total = max(n_buffers * 2, round(rate * LATE_BEYOND_SHARE * n_cells / max(per_hour, 1)))
    hours = np.clip(rng.multinomial(hours_total, np.full(n_buffers, 1 / n_buffers)), 2, 8)
    for g, n_hours in zip(rng.choice(n_gw, size=n_buffers, replace=False), hours, strict=True):
        first_hour = int(rng.integers(0, 24 - n_hours + 1))
        plan.buffers.append(
            Buffer(
                gateway=int(g),
                file_day=int(rng.integers(0, days)),
                old_day=-int(rng.integers(10, 13)),
                first_slot=first_hour * SLOTS_PER_HOUR,
                n_slots=int(n_hours) * SLOTS_PER_HOUR,
            )
        )


def _clean_view(plan: DefectPlan, rows_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive (previous, current) flat cells as the pipeline sees a series within a local day.

    The pipeline flags on its deduplicated clean readings ordered by time, per reading day: gaps and
    quarantined records are simply absent, so their neighbours become adjacent.
    """
    n_slots = plan.kind.shape[1]
    view = ~plan.gap & ~np.isin(plan.kind, QUARANTINE_KINDS) & rows_mask[:, None]
    idx = np.flatnonzero(view)
    a, b = idx[:-1], idx[1:]
    same = (a // n_slots == b // n_slots) & ((a % n_slots) // SLOTS == (b % n_slots) // SLOTS)
    return a[same], b[same]


def _separate_equal_neighbours(plan: DefectPlan, grid: CleanGrid) -> None:
    """Nudge a clean instant value by 0.001 wherever it equals its non-zero neighbour outside a stuck run."""
    metric_kind, low, high, _ = _metric_arrays(grid)
    instant = metric_kind == "instant"
    flat = grid.values.reshape(-1)
    stuck = (plan.kind == K["stuck_sensor"]).reshape(-1)
    n_slots = plan.kind.shape[1]
    a, b = _clean_view(plan, instant)
    for _ in range(100):
        equal = (flat[a] == flat[b]) & (flat[b] != 0) & ~(stuck[a] & stuck[b])
        if not equal.any():
            return
        target = np.unique(np.where(stuck[b[equal]], a[equal], b[equal]))
        v = flat[target]
        step = np.where(v + 0.001 <= high[target // n_slots], 0.001, -0.001)
        flat[target] = np.round(v + step, 3)
    raise RuntimeError("could not separate equal neighbouring readings")


def verify_flags(plan: DefectPlan, grid: CleanGrid) -> dict[str, int]:
    """Recount, from what the pipeline will see, the readings it must flag; fail loudly on any mismatch."""
    metric_kind, low, high, _ = _metric_arrays(grid)
    n_slots = plan.kind.shape[1]
    flat = grid.values.reshape(-1)
    view = ~plan.gap & ~np.isin(plan.kind, QUARANTINE_KINDS)
    out = (flat < np.repeat(low, n_slots)) | (flat > np.repeat(high, n_slots))
    n_oor = int((out & view.reshape(-1)).sum())
    a, b = _clean_view(plan, metric_kind == "instant")
    stuck_pairs = (flat[a] == flat[b]) & (flat[b] != 0)
    a_m, b_m = _clean_view(plan, metric_kind == "cumulative")
    drops = int((flat[b_m] < flat[a_m]).sum())
    counts = {k: int((plan.kind == K[k]).sum()) for k in ("out_of_range", "meter_reset", "meter_rollover")}
    problems = []
    if n_oor != counts["out_of_range"]:
        problems.append(f"out of range {n_oor} != planned {counts['out_of_range']}")
    if int(stuck_pairs.sum()) != (STUCK_LEN - 1) * plan.stuck_runs:
        problems.append(
            f"equal neighbours {int(stuck_pairs.sum())} != {(STUCK_LEN - 1)} x {plan.stuck_runs} runs"
        )
    if drops != counts["meter_reset"] + counts["meter_rollover"]:
        problems.append(f"meter drops {drops} != planned {counts['meter_reset'] + counts['meter_rollover']}")
    if problems:
        raise AssertionError("simulator self-check failed: " + "; ".join(problems))
    return {"bad": n_oor + STUCK_FLAGGED * plan.stuck_runs, "uncertain": drops}
