"""The identifier resolver under load on loopback: resolutions per second and latency percentiles.

A bench home gets a synthetic province written straight into its lake (silver.enterprise, equipment,
data products and silver.identifier through the same plain functions the asset calls); the resolver runs
as its own process (`python -m resolver serve`) and N client threads, each with its own HTTP/1.1
keep-alive connection (stdlib http.client, in its own process), resolve random active handles one GET at a time for D seconds, then
batches of B handles. Reported: handles/s and p50/p95/p99 per request. Goal (issue 18): >= 2,000
handles/s at p95 <= 20 ms.

    python -m bench.resolver [--enterprises 1000] [--clients 4] [--seconds 10] [--batch 20] [--workers 1] [--work DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

import polars as pl

from assets.identifier.issue import identified_objects, issue_identifiers
from bench.machine import write_results
from national_node.loopback import free_port, running_service
from warehouse.codes import make_uscc
from warehouse.registry import DATA_PRODUCT, ENTERPRISE, EQUIPMENT, IDENTIFIER
from warehouse.storage import Lake

START = dt.date(2026, 11, 1)


def province_frames(enterprises: int, *, equipment_per_enterprise: int = 10, seed: int = 18) -> dict:
    """A synthetic province: enterprises (with personal data), equipment on lines, data products."""
    rng = random.Random(seed)
    ents, eqs, dps = [], [], []
    for i in range(enterprises):
        uscc = make_uscc("370302", f"BE{i:06d}")
        ents.append(
            {
                "uscc": uscc,
                "name": f"山东测试{i}化工有限公司",
                "legal_representative": "张三丰",
                "phone": "13812345678",
                "legal_representative_id": "370102199001011234",
                "address": "山东省淄博市",
                "city_code": "3703",
                "division_code": "370302",
                "industry_code": "26",
                "registered_capital": 1000.0,
                "status": "deregistered" if i % 50 == 49 else "active",
                "established_date": dt.date(2010, 1, 1),
                "key_energy_user": i % 3 == 0,
                "sources": "registry",
                "valid_from": START,
            }
        )
        for j in range(equipment_per_enterprise):
            eqs.append(
                {
                    "equipment_id": f"EQ{i:05d}{j:02d}",
                    "uscc": uscc,
                    "site_id": f"ST{i:06d}",
                    "area_id": f"ST{i:06d}-A1",
                    "line_id": f"ST{i:06d}-A1-L{j % 3}",
                    "equipment_type": rng.choice(["pump", "motor", "boiler"]),
                    "rated_power_kw": 100.0,
                    "metrics": "power_kw",
                }
            )
        if i % 5 == 0:
            revoked = dt.datetime(2026, 10, 1, tzinfo=dt.UTC) if i % 25 == 0 else None
            dps.append(
                {
                    "product_id": f"DP{i:05d}",
                    "provider_uscc": uscc,
                    "title": f"工况数据 {i}",
                    "data_domain": "production",
                    "grade": 1,
                    "registration_no": f"REG-{i}",
                    "registered_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                    "revoked_at": revoked,
                }
            )

    def frame(spec, rows):
        return pl.DataFrame([{c: r.get(c) for c in spec.schema} for r in rows], schema=spec.schema)

    return {
        ENTERPRISE.name: frame(ENTERPRISE, ents),
        EQUIPMENT.name: frame(EQUIPMENT, eqs),
        DATA_PRODUCT.name: frame(DATA_PRODUCT, dps),
    }


def write_identifier_lake(lake_root: Path, enterprises: int, *, node: str = "137") -> pl.DataFrame:
    """Write the synthetic province and its identifiers into a lake; return silver.identifier."""
    lake = Lake(lake_root)
    frames = province_frames(enterprises)
    for spec in (ENTERPRISE, EQUIPMENT, DATA_PRODUCT):
        lake.overwrite(spec, frames[spec.name], run_id="bench")
    now = dt.datetime.now(dt.UTC)
    objects = identified_objects(
        frames[ENTERPRISE.name], frames[EQUIPMENT.name], frames[DATA_PRODUCT.name], now=now
    )
    ids = issue_identifiers(pl.DataFrame(schema=IDENTIFIER.schema), objects, node=node, now=now)
    lake.overwrite(IDENTIFIER, ids, run_id="bench")
    return ids


@contextlib.contextmanager
def running_resolver(home: Path, *, env: dict | None = None, workers: int = 1, timeout_s: float = 90.0):
    """`python -m resolver serve` on a free loopback port; yields its URL; SIGTERM (flushes counts) after."""
    port = free_port()
    args = ["-m", "resolver", "serve", "--home", str(home), "--port", str(port), "--workers", str(workers)]
    child_env = dict(os.environ) | {"LAKEHOUSE_HOME": str(home)} | (env or {})
    with running_service(args, name="resolver", port=port, env=child_env, start_timeout_s=timeout_s) as url:
        yield url


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def _client(args: tuple) -> tuple[list[float], int, int]:
    """One client process: a keep-alive HTTP/1.1 connection (http.client: the load generator must cost
    less than the server it measures), random handles, until the deadline."""
    import http.client
    from urllib.parse import urlsplit

    url, handles, seed, stop_at, batch = args
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    rng = random.Random(seed)
    lat, resolved, errors = [], 0, 0
    while time.time() < stop_at:
        t = time.perf_counter()
        if batch == 1:
            conn.request("GET", f"/v1/identifiers/{rng.choice(handles)}")
        else:
            body = json.dumps({"handles": rng.sample(handles, batch)}).encode()
            conn.request("POST", "/v1/identifiers:resolve", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        lat.append(time.perf_counter() - t)
        if r.status == 200:
            resolved += batch
        else:
            errors += 1
    conn.close()
    return lat, resolved, errors


def load(url: str, handles: list[str], *, clients: int, seconds: float, batch: int) -> dict:
    """`clients` processes resolve random handles, one per GET (batch == 1) or `batch` per POST."""
    from multiprocessing import get_context

    stop_at = time.time() + seconds
    with get_context("fork").Pool(clients) as pool:
        t0 = time.time()
        out = pool.map(_client, [(url, handles, k, stop_at, batch) for k in range(clients)])
        elapsed = max(time.time(), stop_at) - t0
    lat = [x for xs, _, _ in out for x in xs]
    return {
        "clients": clients,
        "batch": batch,
        "requests": len(lat),
        "handles_per_s": sum(r for _, r, _ in out) / elapsed,
        "requests_per_s": len(lat) / elapsed,
        "p50_ms": _quantile(lat, 0.5) * 1000,
        "p95_ms": _quantile(lat, 0.95) * 1000,
        "p99_ms": _quantile(lat, 0.99) * 1000,
        "errors": sum(e for _, _, e in out),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resolver", description=__doc__)
    parser.add_argument("--enterprises", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1, help="resolver processes")
    parser.add_argument("--work", type=Path, default=Path("bench/work/resolver"))
    args = parser.parse_args(argv)
    home = args.work.resolve()
    shutil.rmtree(home, ignore_errors=True)
    (home / "lake").mkdir(parents=True)
    ids = write_identifier_lake(home / "lake", args.enterprises)
    active = ids.filter(pl.col("status") == "active")["handle"].to_list()
    results = {"handles": ids.height, "active": len(active), "load_average": os.getloadavg()}
    results["workers"] = args.workers
    with running_resolver(home, workers=args.workers) as url:
        load(url, active, clients=2, seconds=1.0, batch=1)  # warm-up
        results["single"] = load(url, active, clients=args.clients, seconds=args.seconds, batch=1)
        results["batch"] = load(url, active, clients=args.clients, seconds=args.seconds, batch=args.batch)
    write_results("resolver", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
