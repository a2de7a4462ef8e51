"""The quality gate alone: `quality.checks.evaluate` on a finished silver partition (GX suite + rules).

Called as `build_telemetry_day` calls it through `gate_silver_day`: the GX suite over the partition's
files one at a time (a shard's file each, as the build hands over its staged files), the partition rules
on the enterprises sending (`theme.energy_daily`'s uscc) and the exact day totals. So the gate holds one
shard in memory, as the asset does (reading the partition back whole peaked at 6.4 GiB at 10M readings).
The first call in a process pays the Great Expectations import, the file context and the suite set-up
("cold"); later calls are what a long-lived process pays per partition ("warm").
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path


def gate_task(spec: dict, steps) -> dict:
    import polars as pl

    from assets.telemetry.gates import silver_day_checks
    from warehouse.registry import ENERGY_DAILY, SILVER_TELEMETRY
    from warehouse.storage import Lake

    lake, day = Lake(Path(spec["lake"])), dt.date.fromisoformat(spec["day"])
    gx_home = Path(spec["gx_home"])
    shutil.rmtree(gx_home, ignore_errors=True)
    partition = day.isoformat()
    with steps.step("read_silver"):
        files = lake.live_files(SILVER_TELEMETRY).filter(pl.col("partition") == partition)["path"]
        sending = lake.read(ENERGY_DAILY, partition=day, columns=["uscc"])  # as the build's energy frame
    clean = int(spec["clean"])

    def shard_frames() -> Iterator[pl.DataFrame]:
        """The partition's files one at a time (each a shard's part of the day), as the build's gate reads
        its staged files."""
        for path in files:
            yield pl.read_parquet(lake.path(SILVER_TELEMETRY) / path)

    with steps.step("import_quality"):
        from quality.checks import Reconciliation, combined_validation, evaluate, gated_rules
    calls = int(spec.get("calls", 3))
    seconds: list[float] = []
    failed_checks: list[str] = []
    for i in range(calls):
        name = f"gate.call{i + 1}"
        recon = Reconciliation(spec["landed"], clean, spec["quarantined"], spec["duplicates"])
        with steps.step(name):
            ev = evaluate(
                SILVER_TELEMETRY,
                sending,
                partition=partition,
                run_id=f"bench-{i}",
                gx_home=gx_home,
                reconciliation=recon,
                # the checks gate_silver_day passes (the enterprises are the ones ours wrote to the lake)
                **silver_day_checks(
                    lake,
                    day,
                    frames=shard_frames(),
                    rows=clean,
                    landed=spec["landed"],
                    reasons=spec.get("quarantine_reasons") or {},
                ),
            )
        failed_checks = [c.check_name for c in ev.check_results if not c.passed]
        seconds.append(steps.seconds[name])
    # The GX suite alone over the same files (no partition rules or reconciliation), warm.
    rules = [r for r in gated_rules(SILVER_TELEMETRY) if r.expectation is not None]
    with steps.step("gx_no_docs"):
        gx = combined_validation(gx_home, SILVER_TELEMETRY, partition, shard_frames(), rules, "bench-gx")
    return {
        "api": "quality.checks.evaluate",
        "rows": clean,
        "files": len(files),
        "gx_rows": max((o.evaluated for o in gx.outcomes), default=0),
        "cold_seconds": seconds[0],
        "warm_seconds": statistics.median(seconds[1:]) if len(seconds) > 1 else None,
        "call_seconds": seconds,
        "gx_no_docs_seconds": steps.seconds["gx_no_docs"],
        "failed_checks": failed_checks,
    }
