"""One local day's national sync round-trip on loopback: aggregate in DuckDB, release, sign, send, ack.

A province of `enterprises` enterprises (the plan's 1,000 by default, two equipment each, spread over the
16 cities and the GB/T 4754 divisions) gets one built day in theme.energy_daily / theme.equipment_daily
with passing checks; a reference national node runs as a separate process on loopback. Each run restates
the day (figures shifted) so that every sync really sends a new version: the time is `sync_day` end to
end, from reading the themes through DuckDB to the node's acknowledgement recorded in the ledger.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import statistics
import time
from pathlib import Path

DAY = dt.date(2026, 11, 2)
SEED = 20261102


def _theme_rows(enterprises: int, revision: int):
    import polars as pl

    from warehouse.domain import CITIES, INDUSTRIES
    from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY

    rng = random.Random(SEED)
    cities, industries = sorted(CITIES), sorted(INDUSTRIES)
    energy, equipment = [], []
    for n in range(enterprises):
        uscc = f"91370000{n:09d}X"
        city, industry = rng.choice(cities), rng.choice(industries)
        for k in range(2):
            kwh = rng.uniform(500, 50_000) + 10 * revision
            gas = rng.choice([0.0, rng.uniform(10, 900)])
            expected, received = 384, 384 - rng.randint(0, 20)
            eq = f"EQ{n:06d}{k}"
            energy.append(
                {
                    "day": DAY,
                    "uscc": uscc,
                    "city_code": city,
                    "industry_code": industry,
                    "equipment_id": eq,
                    "equipment_type": "pump",
                    "electricity_kwh": kwh,
                    "natural_gas_m3": gas,
                    "coal_t": 0.0,
                    "energy_tce": (kwh * 0.1229 + gas * 1.2143) / 1000,
                    "peak_load_kw": 50.0,
                    "mean_load_kw": 20.0,
                    "meter_drops": 0,
                    "readings_expected": expected,
                    "readings_received": received,
                    "completeness_pct": 100 * received / expected,
                    "readings_good": received,
                    "readings_uncertain": 0,
                    "readings_bad": 0,
                }
            )
            fault = rng.choice([0.0, 0.0, 0.5])
            equipment.append(
                {
                    "day": DAY,
                    "uscc": uscc,
                    "equipment_id": eq,
                    "equipment_type": "pump",
                    "running_hours": 23.0 - fault,
                    "fault_hours": fault,
                    "starts": 1,
                    "availability_pct": 100 * (24 - fault) / 24,
                    "limit_exceedances": 0,
                    "readings_good": received,
                    "readings_uncertain": 0,
                    "readings_bad": 0,
                }
            )
    return pl.DataFrame(energy, schema=ENERGY_DAILY.schema), pl.DataFrame(
        equipment, schema=EQUIPMENT_DAILY.schema
    )


def _passing_checks(lake, run_id: str) -> None:
    import polars as pl

    from warehouse.registry import ENERGY_DAILY, QUALITY_RESULTS

    row = {
        "table_name": ENERGY_DAILY.name,
        "partition": DAY.isoformat(),
        "rule_id": "day_complete",
        "kind": "partition",
        "severity": "error",
        "evaluated": 1,
        "failed": 0,
        "pass_rate": 1.0,
        "passed": True,
        "run_id": run_id,
        "checked_at": dt.datetime.now(dt.UTC),
    }
    lake.upsert(QUALITY_RESULTS, pl.DataFrame([row], schema=QUALITY_RESULTS.schema), run_id=run_id)


def sync_task(spec: dict, steps) -> dict:
    import duckdb
    import httpx

    from assets.build_record import day_build_row
    from assets.sync.signing import sign_request
    from assets.sync.sync import sync_day
    from assets.sync.transport import NodeConfig
    from national_node.loopback import running_node
    from warehouse.registry import DAY_BUILD, ENERGY_DAILY, EQUIPMENT_DAILY
    from warehouse.serving.contents import view_sql
    from warehouse.serving.delta import DELTA_EXTENSION
    from warehouse.settings import demo_key
    from warehouse.storage import Lake

    root = Path(spec["root"])
    shutil.rmtree(root, ignore_errors=True)
    lake = Lake(root / "lake")
    con = duckdb.connect()
    con.execute(f"LOAD '{DELTA_EXTENSION}'")
    con.execute("CREATE SCHEMA theme")
    key = demo_key(root)
    runs, enterprises = int(spec["runs"]), int(spec["enterprises"])
    times, latencies, outcomes = [], [], []
    with running_node(root / "node", key.node_keys()) as url, httpx.Client() as client:
        node = NodeConfig(url=url, key_id=key.key_id, secret=key.secret, timeout_s=10.0)
        for revision in range(runs + 1):  # the first run warms up (imports, first connection)
            energy, equipment = _theme_rows(enterprises, revision)
            lake.replace_partition(ENERGY_DAILY, DAY, energy, run_id=f"bench-{revision}")
            lake.replace_partition(EQUIPMENT_DAILY, DAY, equipment, run_id=f"bench-{revision}")
            _passing_checks(lake, f"bench-{revision}")
            now = dt.datetime.now(dt.UTC)  # the build record daily_job writes last: the sync releases only
            lake.upsert(
                DAY_BUILD, day_build_row(DAY, f"bench-{revision}", now, now), run_id=f"bench-{revision}"
            )
            for s in (ENERGY_DAILY, EQUIPMENT_DAILY):
                con.execute(view_sql(s, lake))
            t0 = time.perf_counter()
            outcome = sync_day(DAY, lake=lake, con=con, client=client, node=node, run_id=f"bench-{revision}")
            elapsed = (time.perf_counter() - t0) * 1000
            if outcome.status != "acknowledged":
                raise RuntimeError(f"sync run {revision}: {outcome.status} {outcome.message}")
            if revision:
                times.append(elapsed)
                latencies.append(outcome.latency_ms)
                outcomes.append(outcome)
        target = f"/v1/provinces/37/periods/{DAY.isoformat()}"
        signed = sign_request(
            method="GET",
            path=target,
            body=b"",
            node="37",
            key_id=key.key_id,
            secret=key.secret,
            idempotency_key="",
        )
        held = client.get(f"{url}{target}", headers={k: v for k, v in signed.items() if v}, timeout=10).json()
    con.close()
    last = outcomes[-1]
    return {
        "enterprises": enterprises,
        "equipment": 2 * enterprises,
        "runs": runs,
        "round_trip_ms": _stats(times),
        "node_latency_ms": _stats(latencies),
        "rows": last.rows,
        "bytes": last.bytes,
        "cells_suppressed": last.cells_suppressed,
        "versions_at_node": len(held.get("versions", [])),
        "current_version": held.get("current_version"),
    }


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "p50_ms": statistics.median(ordered),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
    }
