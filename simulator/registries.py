"""Registry exports of the simulated province: the market-regulation register and the industry roster.

Both are derived from the same province's enterprises, with the defects real exports carry and the
ground truth (expected quarantine counts per reason, SCD2 changes, DCMM levels) in the returned dict:

* `landing/registry/market_regulation.csv` (GB18030) and a later export
  `market_regulation_<YYYYMMDD>.csv` in which some enterprises changed industry or address;
  defects: bad USCC check characters or organization-code checks, full-width characters and stray
  spaces in names, pre-2019 Laiwu region codes 3712xx (valid, map to 3701), duplicate rows,
  deregistered enterprises, mixed date formats (2020/1/5, 2020-01-05, 20200105), a few rows with a
  region outside Shandong, an unknown industry or an impossible date, and one row per code-standard
  defect of `CODE_DEFECTS` (USCC authority, institution type, division; resident-ID format, region,
  birth date before 1900, impossible or in the future, check character); legal representatives'
  resident IDs are valid GB 11643 numbers whose district may postdate the birth year (IDs carry the
  code current when issued);
* `landing/registry/key_enterprises.xlsx`: the industry department's roster of key enterprises
  with DCMM assessments (GB/T 36073), USCC sometimes missing or an old 15-digit registration number,
  assessment dates partly Excel serials, and fields that disagree with the register.

This module dates and writes the files and sums the ground truth; `simulator.register` makes the
register's rows and defects, `simulator.roster` the workbook.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

from simulator.register import (
    STATUS_DEREGISTERED,
    build_register,
    change_register,
    export_rows,
    write_register,
)
from simulator.roster import write_roster
from warehouse.domain import TIMEZONE

FIRST_EXPORT_DAYS_BEFORE = 90
SECOND_EXPORT_DAYS_BEFORE = 3


def _mtime(d: dt.date) -> int:
    from zoneinfo import ZoneInfo

    return int(dt.datetime.combine(d, dt.time(9, 0), tzinfo=ZoneInfo(TIMEZONE)).timestamp()) * 1_000_000_000


def write_registries(
    landing: Path, enterprises: pl.DataFrame, *, start: dt.date, rng: np.random.Generator
) -> dict:
    """Write both register exports and the roster; return the ground truth (manifest["registry"])."""
    folder = landing / "registry"
    folder.mkdir(parents=True, exist_ok=True)
    register = build_register(enterprises, rng)
    connected = [r["uscc"] for r in register if r["connected"]]
    typo = {connected[len(connected) // 2]} if len(connected) >= 10 else set()
    first_day = start - dt.timedelta(days=FIRST_EXPORT_DAYS_BEFORE)
    second_day = start - dt.timedelta(days=SECOND_EXPORT_DAYS_BEFORE)
    later, changes = change_register(register, rng)
    files = {}
    for fname, rows_in, day in (
        ("market_regulation.csv", register, first_day),
        (f"market_regulation_{second_day:%Y%m%d}.csv", later, second_day),
    ):
        rows, bad_date, truth = export_rows(rows_in, typo, rng, fname)
        truth |= write_register(folder / fname, rows, rng, bad_date)
        truth["snapshot_date"] = day.isoformat()
        os.utime(folder / fname, ns=(_mtime(day), _mtime(day)))
        files[fname] = truth
    key_users = dict(zip(enterprises["uscc"], enterprises["key_energy_user"], strict=True))
    roster_day = start - dt.timedelta(days=SECOND_EXPORT_DAYS_BEFORE)
    roster = write_roster(
        folder / "key_enterprises.xlsx",
        later,
        key_users,
        typo,
        rng,
        dt.datetime.combine(roster_day, dt.time(9, 0)),
    )
    os.utime(folder / "key_enterprises.xlsx", ns=(_mtime(roster_day), _mtime(roster_day)))
    os.utime(folder, ns=(_mtime(roster_day), _mtime(roster_day)))
    golden = [r for r in later if r["uscc"] not in typo]
    changes = [c for c in changes if c["uscc"] not in typo]
    quarantined: Counter = Counter()
    for f in files.values():
        quarantined.update(f["quarantined"])
    quarantined.update(roster["quarantined"])
    return {
        "files": files,
        "roster": roster,
        "quarantined": dict(sorted(quarantined.items())),
        "golden": {
            "current": len(golden),
            "history_rows": len(golden) + len(changes),
            "deregistered": sum(r["status"] == STATUS_DEREGISTERED for r in golden),
            "laiwu_3712": sum(r["region_code"].startswith("3712") for r in golden),
            "changes": [dict(c, on=second_day.isoformat()) for c in changes],
        },
        "connected_not_in_golden": sorted(typo),
        "golden_usccs": sorted(r["uscc"] for r in golden),
    }
