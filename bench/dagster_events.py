"""The cost of one Dagster event: SQLite (embedded profile) vs PostgreSQL (server profile).

Writes N runless asset materializations into a fresh instance of each profile (the same event a run's
materialization writes) and reports milliseconds per event. Usage:
    python -m bench.dagster_events [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from warehouse.settings import drop_pg_database, load_settings


def per_event_ms(profile: str, n: int, home: Path) -> tuple[float, float]:
    """(wall ms, this process's CPU ms) per event; PostgreSQL's own CPU is not in the second figure."""
    from dagster import AssetMaterialization, DagsterInstance

    env = dict(os.environ) | {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": profile}
    env.pop("LAKEHOUSE_PG_URL", None)
    s = load_settings(env)
    s.prepare()
    instance = DagsterInstance.from_config(str(s.dagster_home))
    try:
        instance.report_runless_asset_event(AssetMaterialization("warmup"))
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            instance.report_runless_asset_event(AssetMaterialization("probe", metadata={"i": i}))
        return (time.perf_counter() - start) / n * 1000, (time.process_time() - cpu) / n * 1000
    finally:
        instance.dispose()
        if s.server:
            drop_pg_database(s.pg_database_url)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory(prefix="lakehouse-events-") as tmp:
        for profile in ("embedded", "server"):
            wall, cpu = per_event_ms(profile, n, Path(tmp) / profile)
            load = os.getloadavg()[0]
            print(
                f"{profile:9s} {n} events: {wall:.2f} ms/event wall, {cpu:.2f} ms client CPU (load {load:.1f})"
            )


if __name__ == "__main__":
    main()
