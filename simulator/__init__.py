"""A simulated Shandong province for the landing zone, with the ground truth the pipeline must reproduce.

`generate` writes master data (landing/master/*.parquet), one telemetry file per gateway and local day
(landing/telemetry/<gateway>/<YYYY-MM-DD>/...) and one production file per local day (landing/production/), with defects at a known rate, and returns a manifest of
exactly what a correct pipeline has to land, keep, deduplicate, quarantine and flag. Same arguments, same
bytes and mtimes: everything is drawn from numpy.random.default_rng(seed) and the wall clock is never read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from simulator.defect_kinds import KINDS, QUARANTINE_REASON, REASONS
from simulator.defects import STUCK_FLAGGED, plan_defects
from simulator.energy_reports import write_energy_reports
from simulator.feeds import feed_truth, plan_outages
from simulator.files import REJECTED, TelemetryWriter, drop_time, plan_landing
from simulator.production import write_production
from simulator.province import Province, build_province
from simulator.registries import write_registries
from simulator.supply import supply_graph_truth, write_supplier_links
from simulator.telemetry import simulate
from simulator.trading import write_trading
from warehouse.contracts import SUPPLIER_LINKS_FILE

__all__ = ["generate"]

MASTER_FILES = ("enterprises", "sites", "equipment")
_RECORD_DEFECTS = tuple(k for k in KINDS if k not in ("clean", "stuck_sensor"))


def generate(
    home_landing: Path,
    manifest_path: Path,
    *,
    enterprises: int,
    days: int,
    start: dt.date,
    seed: int,
    defect_rate: float = 0.01,
) -> dict:
    """Write a simulated province into `home_landing` and its ground-truth manifest to `manifest_path`."""
    if enterprises < 1 or days < 1:
        raise ValueError("enterprises and days must be >= 1")
    if not 0 <= defect_rate <= 0.2:
        raise ValueError("defect_rate must be within [0, 0.2]")
    home_landing, manifest_path = Path(home_landing), Path(manifest_path)
    telemetry_root = home_landing / "telemetry"
    if telemetry_root.is_dir() and any(p.is_file() for p in telemetry_root.rglob("*")):
        raise FileExistsError(f"{telemetry_root} already holds files; generate into an empty landing folder")

    rng_master, rng_values, rng_defects, rng_files = np.random.default_rng(seed).spawn(4)
    prov = build_province(enterprises, rng_master)
    grid = simulate(prov, days, start, rng_values)
    landing = plan_landing(prov, days, defect_rate, rng_files)
    # feed outages from their own stream, placed before every other defect
    outage, silent, late = plan_outages(prov, grid, landing, defect_rate, np.random.default_rng([seed, 1515]))
    plan = plan_defects(
        grid, prov.eq_site[grid.series_eq], landing.formats, defect_rate, rng_defects, outage=outage
    )

    before = drop_time(start, -2, 0)  # master data is exported before the first day
    _write_master(home_landing / "master", prov, before)
    tally = TelemetryWriter(telemetry_root, prov, grid, plan, landing, start).write_all()

    by_day, totals = _day_table(tally.by_day, start)
    by_batch_day, _ = _day_table(tally.by_batch_day, start)
    defects = {k: tally.kinds[k] for k in _RECORD_DEFECTS}
    defects |= {
        "stuck_sensor": plan.stuck_runs,
        "gaps": int(plan.gap.sum()),  # every reading never sent, the feed outages' included
        "feed_outage": int(outage.sum()),
        "late_within_watermark": tally.rows["late_within_watermark"],
        "late_beyond_watermark": tally.rows["late_beyond_watermark"],
        "resent_file": tally.rows["resent_file"],
        "bom_csv": tally.rows["bom_csv"],
        "gbk_csv": tally.rows["gbk_csv"],
        **{reason: tally.rows[reason] for reason in REJECTED},
    }
    manifest = {
        "params": {
            "enterprises": enterprises,
            "days": days,
            "start": start.isoformat(),
            "seed": seed,
            "defect_rate": defect_rate,
        },
        "master": {
            "enterprises": prov.enterprises.height,
            "sites": prov.sites.height,
            "gateways": prov.sites.height,
            "equipment": prov.equipment.height,
            "series": int(grid.values.shape[0]),
        },
        "files": {
            "written": tally.files_written,
            "resent": tally.rows["resent_files"],
            "rejected": {reason: int(reason in landing.rejected) for reason in REJECTED},
            "by_format": {f: tally.files_by_format[f] for f in ("csv", "jsonl", "parquet")},
            "bom_csv": len(landing.bom),
            "gbk_csv": len(landing.gbk),
        },
        "defects": defects,
        "expected": {**totals, "flags": plan.flags, "local_time_no_offset": tally.no_offset},
        "by_day": by_day,
        "by_batch_day": by_batch_day,
        "feeds": feed_truth(prov, grid, plan, start, silent, late),
    }
    _check(manifest, plan.gap.size - int(plan.gap.sum()))
    # Registers and trading come from their own streams, so telemetry bytes do not depend on them.
    rng_registry, rng_trading = np.random.default_rng([seed, 3712]).spawn(2)
    registry = write_registries(home_landing, prov.enterprises, start=start, rng=rng_registry)
    manifest["registry"] = registry
    manifest["trading"] = write_trading(
        home_landing, registry["golden_usccs"], start=start, days=days, rng=rng_trading
    )
    manifest["supply"] = write_supplier_links(
        home_landing,
        prov.enterprises,
        registry["golden_usccs"],
        start=start,
        rng=np.random.default_rng([seed, 1949]),
    )
    industry_of = dict(prov.enterprises.select("uscc", "industry_code").iter_rows())
    industry_of |= {
        c["uscc"]: c["to"] for c in registry["golden"]["changes"] if c["field"] == "industry_code"
    }
    manifest["graph"] = supply_graph_truth(
        home_landing / "supply" / SUPPLIER_LINKS_FILE,
        city_of=dict(prov.enterprises.select("uscc", "city_code").iter_rows()),
        industry_of=industry_of,
        golden=registry["golden_usccs"],
    )
    manifest["production"] = write_production(
        home_landing,
        prov,
        start=start,
        days=days,
        defect_rate=defect_rate,
        rng=np.random.default_rng([seed, 4754]),
    )
    manifest["energy_reports"] = write_energy_reports(
        home_landing,
        prov,
        grid,
        plan,
        start=start,
        rng=np.random.default_rng([seed, 2589]),
        defect_rate=defect_rate,
    )
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(
        json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n", "utf-8"
    )
    after = drop_time(start, days, 0) + 3600 * 1_000_000_000
    os.utime(manifest_path, ns=(after, after))
    for folder in sorted((p for p in home_landing.rglob("*") if p.is_dir()), reverse=True):
        if folder.parts[len(home_landing.parts)] in (
            "telemetry",
            "master",
            "registry",
            "trading",
            "production",
            "supply",
        ):
            os.utime(folder, ns=(after, after))
    return manifest


def _day_table(counts: dict[int, Counter], start: dt.date) -> tuple[dict[str, dict], dict]:
    """Per-day entries keyed by ISO date, and their totals."""
    table: dict[str, dict] = {}
    totals: dict = {"landed": 0, "clean": 0, "duplicates": 0, "quarantined": dict.fromkeys(REASONS, 0)}
    for day in sorted(counts):
        c = counts[day]
        entry = {
            "landed": sum(c.values()),
            "clean": c["clean"],
            "duplicates": c["duplicate"],
            "quarantined": {r: c[r] for r in REASONS},
        }
        table[(start + dt.timedelta(days=day)).isoformat()] = entry
        for key in ("landed", "clean", "duplicates"):
            totals[key] += entry[key]
        for r in REASONS:
            totals["quarantined"][r] += entry["quarantined"][r]
    return table, totals


def _write_master(folder: Path, prov: Province, mtime_ns: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(MASTER_FILES, (prov.enterprises, prov.sites, prov.equipment), strict=True):
        path = folder / f"{name}.parquet"
        pq.write_table(frame.to_arrow(), path, compression="snappy")
        os.utime(path, ns=(mtime_ns, mtime_ns))


def _check(manifest: dict, sent_cells: int) -> None:
    """The identities the manifest promises; a failure here is a simulator bug."""
    exp, defects = manifest["expected"], manifest["defects"]
    for scope, entry in [("total", exp), *manifest["by_day"].items(), *manifest["by_batch_day"].items()]:
        total = entry["clean"] + entry["duplicates"] + sum(entry["quarantined"].values())
        assert entry["landed"] == total, f"{scope}: landed {entry['landed']} != {total}"
    for kind, reason in QUARANTINE_REASON.items():
        assert exp["quarantined"][reason] == defects[kind], kind
    assert exp["quarantined"]["late_beyond_watermark"] == defects["late_beyond_watermark"]
    assert exp["duplicates"] == defects["exact_duplicate"]
    quarantined_cells = sum(defects[k] for k in QUARANTINE_REASON)
    assert exp["clean"] == sent_cells - quarantined_cells, "clean readings != sent cells - quarantined"
    assert exp["flags"]["bad"] == defects["out_of_range"] + STUCK_FLAGGED * defects["stuck_sensor"]
    assert exp["flags"]["uncertain"] == defects["meter_reset"] + defects["meter_rollover"]
