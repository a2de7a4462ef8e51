"""Enterprise energy statistics reports (能源统计报表 / 快报) for the months the simulation covers.

The provincial online-monitoring systems check that the sum of an enterprise's monitored daily energy
agrees with its own monthly report within 5%. Each enterprise files one row per month into
`landing/energy_reports/<YYYY-MM>.csv`: its true consumption per carrier over the days the report covers,
with reporting noise of at most ±1% per carrier; a few enterprises misreport by 10-25% (the defect the
rule must catch), and a couple of rows arrive broken (an invalid USCC, a number that does not parse).

A report covers [from_day, through_day]: from the first of the month (or the first simulated day, the
first day the lake has) to the month's last day, or to the last simulated day for a month still running
(a month-to-date flash report). The first simulated day counts from its first meter reading, exactly as
theme.energy_daily does without a previous day to take a baseline from.

The manifest also says which reports a correct pipeline will find disagreeing: their figures against
what the lake can see (meter readings that are sent and not quarantined), so a telemetry gap large
enough to push a clean enterprise past 5% would be predicted too.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from simulator.defect_kinds import QUARANTINE_KINDS, DefectPlan
from simulator.formats import write_csv
from simulator.province import Province
from simulator.telemetry import METRIC_NAMES, SLOTS, CleanGrid
from warehouse.codes import USCC_CHARSET
from warehouse.contracts import ENERGY_REPORT_FIELDS as FIELDS
from warehouse.domain import KGCE_PER_UNIT, METRICS, REPORT_AGREEMENT_TOLERANCE, TIMEZONE

FOLDER = "energy_reports"
CARRIERS = ("electricity", "natural_gas", "coal")
_DECIMALS = (1, 1, 3)  # kWh, m³, t as enterprises fill in the form
NOISE = 0.01  # honest reporting differs from the meters by at most 1% per carrier
MISREPORT = (0.10, 0.25)  # misreporters are off by 10-25%, up or down
BROKEN_ROWS = {"report_uscc_invalid": "uscc", "report_number_invalid": "electricity_kwh"}
_TZ = ZoneInfo(TIMEZONE)


def _windows(start: dt.date, days: int) -> list[tuple[str, int, int]]:
    """(month, first day index, last day index) of each month the simulated days touch."""
    out: list[tuple[str, int, int]] = []
    for d in range(days):
        month = f"{start + dt.timedelta(days=d):%Y-%m}"
        if out and out[-1][0] == month:
            out[-1] = (month, out[-1][1], d)
        else:
            out.append((month, d, d))
    return out


def _visible_consumption(grid: CleanGrid, plan: DefectPlan) -> np.ndarray:
    """(meters, days) consumption the lake can compute: between the last readings it receives.

    A day counts from the previous day's last received reading (its baseline), else from its own
    first one; readings that are never sent or are quarantined are invisible. Resets and rollovers are
    recovered exactly by the pipeline, so true cumulative consumption stands in for the register.
    """
    rows = grid.meter_rows
    cum = np.cumsum(grid.meter_inc, axis=1)
    seen = ~plan.gap[rows] & ~np.isin(plan.kind[rows], QUARANTINE_KINDS)
    out = np.zeros((rows.size, grid.days))
    last_prev = np.full(rows.size, -1)
    idx = np.arange(rows.size)
    for d in range(grid.days):
        day = seen[:, d * SLOTS : (d + 1) * SLOTS]
        has = day.any(axis=1)
        first = d * SLOTS + day.argmax(axis=1)
        last = (d + 1) * SLOTS - 1 - day[:, ::-1].argmax(axis=1)
        base = np.where(last_prev >= 0, last_prev, first)
        out[:, d] = np.where(has, cum[idx, last] - cum[idx, base], 0.0)
        last_prev = np.where(has, last, last_prev)
    return out


def _by_enterprise(values: np.ndarray, enterprise: np.ndarray, carrier: np.ndarray, n: int) -> np.ndarray:
    """(enterprises, carriers) sums of per-meter values."""
    out = np.zeros((n, len(CARRIERS)))
    np.add.at(out, (enterprise, carrier), values)
    return out


def _tce(carriers: np.ndarray) -> np.ndarray:
    """GB/T 2589 standard coal of (…, carriers) amounts, in tonnes."""
    return carriers @ np.array([KGCE_PER_UNIT[c] for c in CARRIERS]) / 1000


def _break_uscc(uscc: str) -> str:
    """The same code with a wrong check character (a typo on the form)."""
    i = USCC_CHARSET.index(uscc[-1])
    return uscc[:-1] + USCC_CHARSET[(i + 7) % len(USCC_CHARSET)]


def write_energy_reports(
    landing: Path,
    prov: Province,
    grid: CleanGrid,
    plan: DefectPlan,
    *,
    start: dt.date,
    rng: np.random.Generator,
    defect_rate: float,
) -> dict:
    """Write landing/energy_reports/<YYYY-MM>.csv; return manifest["energy_reports"]."""
    folder = landing / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    usccs = prov.enterprises["uscc"].to_list()
    n = len(usccs)
    metric = [METRIC_NAMES[m] for m in grid.series_metric[grid.meter_rows]]
    carrier = np.array([CARRIERS.index(METRICS[m].carrier or "") for m in metric])
    enterprise = prov.eq_site[grid.series_eq[grid.meter_rows]]  # one site per enterprise, same order
    visible = _visible_consumption(grid, plan)

    n_bad = len(BROKEN_ROWS) if defect_rate > 0 and n > len(BROKEN_ROWS) else 0
    n_mis = min(n - n_bad, max(1, round(n * defect_rate * 5))) if defect_rate > 0 else 0
    order = rng.permutation(n)
    misreporters = set(order[:n_mis].tolist())
    broken = dict(zip(order[n_mis : n_mis + n_bad].tolist(), list(BROKEN_ROWS)[:n_bad], strict=True))
    factor = np.ones(n)
    off = rng.uniform(*MISREPORT, size=n) * rng.choice([-1.0, 1.0], size=n)
    factor[list(misreporters)] = 1 + off[list(misreporters)]

    stats = {"files": 0, "rows": 0, "quarantined": dict.fromkeys(BROKEN_ROWS, 0), "reports": []}
    for month, a, b in _windows(start, grid.days):
        lo, hi = max(a * SLOTS, 1), (b + 1) * SLOTS  # slot 0 is the first day's baseline reading
        true = _by_enterprise(grid.meter_inc[:, lo:hi].sum(axis=1), enterprise, carrier, n)
        seen = _by_enterprise(visible[:, a : b + 1].sum(axis=1), enterprise, carrier, n)
        noise = rng.uniform(-NOISE, NOISE, size=(n, len(CARRIERS)))
        reported = true * (1 + noise) * factor[:, None]
        reported = np.column_stack([np.round(reported[:, c], _DECIMALS[c]) for c in range(len(CARRIERS))])
        reported_tce = np.round(_tce(reported), 3)
        seen_tce = _tce(seen)
        first, through = start + dt.timedelta(days=a), start + dt.timedelta(days=b)
        rows = []
        for e in range(n):
            filed = dt.datetime.combine(through + dt.timedelta(days=1), dt.time(9), tzinfo=_TZ)
            filed += dt.timedelta(minutes=int(rng.integers(0, 8 * 60)))
            row = [
                usccs[e],
                month,
                first.isoformat(),
                through.isoformat(),
                *(f"{reported[e, c]:.{_DECIMALS[c]}f}" for c in range(len(CARRIERS))),
                f"{reported_tce[e]:.3f}",
                filed.isoformat(timespec="seconds"),
            ]
            reason = broken.get(e)
            if reason == "report_uscc_invalid":
                row[0] = _break_uscc(row[0])
            elif reason == "report_number_invalid":
                row[FIELDS.index("electricity_kwh")] = "#VALUE!"
            if reason:
                stats["quarantined"][reason] += 1
            else:
                deviation = abs(seen_tce[e] - reported_tce[e]) / reported_tce[e] if reported_tce[e] else 0.0
                stats["reports"].append(
                    {
                        "uscc": usccs[e],
                        "month": month,
                        "misreported": e in misreporters,
                        "disagrees": bool(round(deviation, 6) > REPORT_AGREEMENT_TOLERANCE),
                    }
                )
            rows.append(row)
        path = folder / f"{month}.csv"
        write_csv(path, FIELDS, rows)
        last_filed = dt.datetime.combine(through + dt.timedelta(days=1), dt.time(17), tzinfo=_TZ)
        stamp = int(last_filed.timestamp()) * 1_000_000_000
        os.utime(path, ns=(stamp, stamp))
        stats["files"] += 1
        stats["rows"] += len(rows)
    reports = stats.pop("reports")
    os.utime(folder, ns=(stamp, stamp))
    return {
        **stats,
        "clean": len(reports),
        "misreported": sorted({r["uscc"] for r in reports if r["misreported"]}),
        "disagreeing": sorted({f"{r['uscc']} {r['month']}" for r in reports if r["disagrees"]}),
        "disagreements": sum(r["disagrees"] for r in reports),
    }
