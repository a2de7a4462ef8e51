"""Feed outages: a few enterprises' gateways stop sending before the simulated days end.

The national energy-monitoring rules judge an enterprise by whether its feed is on time. With defects
on, `round(E / 30)` enterprises (at least one) send nothing on the last simulated day (their feed is
*silent* by its end) and `round(E / 20)` (at least one) stop at 20:00 local on the last day (*late*).

The ground truth is what catalog.feed_status must say at `at` = the last day's 23:50 local, with the
default cadence (15 minutes) and silent threshold (24 hours): computed from every reading silver will
hold (sent, not quarantined), not only from the planned outages, so an enterprise whose every series
happens to miss the last slots is predicted late too. An outage is a run of never-sent readings (a gap
in the defect plan), placed before every other defect so the other counts of the manifest hold.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from simulator.defect_kinds import QUARANTINE_KINDS, DefectPlan
from simulator.files import LandingPlan
from simulator.province import Province
from simulator.telemetry import SLOTS, CleanGrid
from warehouse.domain import SAMPLING_INTERVAL_MINUTES, TIMEZONE

SILENT_PER_ENTERPRISES, LATE_PER_ENTERPRISES = 30, 20
LATE_STOP = dt.time(20, 0)  # late enterprises send nothing from this local time on the last day
CHECK_AT = dt.time(23, 50)  # when the truth holds (local, last day)
CADENCE = dt.timedelta(minutes=15)  # the defaults of LAKEHOUSE_FEED_CADENCE_MINUTES ...
SILENT_AFTER = dt.timedelta(hours=24)  # ... and LAKEHOUSE_FEED_SILENT_HOURS


def plan_outages(
    prov: Province, grid: CleanGrid, landing: LandingPlan, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, list[int], list[int]]:
    """(never-sent mask (S, T), silent enterprise indexes, late enterprise indexes); none without defects.

    Enterprise i sends through gateway i; a silent one is picked among gateways without a file-level
    defect (re-sent, BOM, GB18030, rejected retry) on the last day, which has no file of it.
    """
    mask = np.zeros(grid.values.shape, dtype=bool)
    n = prov.enterprises.height
    n_silent = max(1, round(n / SILENT_PER_ENTERPRISES))
    n_late = max(1, round(n / LATE_PER_ENTERPRISES))
    if rate <= 0 or n < n_silent + n_late + 2:
        return mask, [], []
    last = grid.days - 1
    special = {
        g for g, d in (*landing.resent, *landing.bom, *landing.gbk, *landing.rejected.values()) if d == last
    }
    quiet = np.array([i for i in range(n) if i not in special])
    if quiet.size < n_silent:
        return mask, [], []
    silent = sorted(rng.choice(quiet, size=n_silent, replace=False).tolist())
    rest = np.array([i for i in range(n) if i not in silent])
    late = sorted(rng.choice(rest, size=n_late, replace=False).tolist())
    series_site = prov.eq_site[grid.series_eq]
    last_day = (grid.days - 1) * SLOTS
    stop = last_day + (LATE_STOP.hour * 60 + LATE_STOP.minute) // SAMPLING_INTERVAL_MINUTES
    mask[np.isin(series_site, silent), last_day:] = True
    mask[np.isin(series_site, late), stop:] = True
    return mask, silent, late


def feed_truth(
    prov: Province, grid: CleanGrid, plan: DefectPlan, start: dt.date, silent: list[int], late: list[int]
) -> dict:
    """What catalog.feed_status must say at the last day's 23:50 local, from the readings silver holds."""
    tz = ZoneInfo(TIMEZONE)
    first_slot = dt.datetime.combine(start, dt.time(), tz)
    at = dt.datetime.combine(start + dt.timedelta(days=grid.days - 1), CHECK_AT, tz)
    step = dt.timedelta(minutes=SAMPLING_INTERVAL_MINUTES)
    upto = int((at - first_slot) / step) + 1  # slots stamped at or before `at`
    seen = ~plan.gap[:, :upto] & ~np.isin(plan.kind[:, :upto], QUARANTINE_KINDS)
    has = seen.any(axis=1)
    last_slot = np.where(has, upto - 1 - seen[:, ::-1].argmax(axis=1), -1)
    series_site = prov.eq_site[grid.series_eq]
    usccs = prov.enterprises["uscc"].to_list()
    status: dict[str, list[str]] = {"on_time": [], "late": [], "silent": []}
    for i, uscc in enumerate(usccs):
        slots = last_slot[series_site == i]
        if slots.size == 0:
            continue  # no key equipment: not a feed
        newest = int(slots.max())
        age = at - (first_slot + newest * step) if newest >= 0 else None
        key = "silent" if age is None or age > SILENT_AFTER else "late" if age > CADENCE else "on_time"
        status[key].append(uscc)
    return {
        "at": at.isoformat(),
        "cadence_minutes": CADENCE.total_seconds() / 60,
        "silent_hours": SILENT_AFTER.total_seconds() / 3600,
        "silent": sorted(status["silent"]),
        "late": sorted(status["late"]),
        "on_time": len(status["on_time"]),
        "outages": {"silent": sorted(usccs[i] for i in silent), "late": sorted(usccs[i] for i in late)},
    }
