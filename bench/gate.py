"""The quality gate alone: `quality.checks.evaluate` on a finished silver partition (GX suite + rules).

Called as `build_silver_telemetry` calls it, on the silver partition the `ours` run wrote. The first call
in a process pays the Great Expectations import, the file context and suite set-up and a Data Docs
build ("cold"); later calls are what a long-lived process pays per partition ("warm").
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
from pathlib import Path


def gate_task(spec: dict, steps) -> dict:
    from warehouse.registry import SILVER_TELEMETRY
    from warehouse.storage import Lake

    lake, day = Lake(Path(spec["lake"])), dt.date.fromisoformat(spec["day"])
    gx_home = Path(spec["gx_home"])
    shutil.rmtree(gx_home, ignore_errors=True)
    with steps.step("read_silver"):
        clean = lake.read(SILVER_TELEMETRY, partition=day)
    partition = day.isoformat()
    # The context build_silver_telemetry passes (enterprises from the master export the run used; no
    # trailing days in a one-day lake).
    from assets.enterprise.master import read_master
    from bench.engines import _master
    from warehouse.registry import ENTERPRISE

    context = {
        "landed": spec["landed"],
        "quarantine_reasons": spec.get("quarantine_reasons") or {},
        "enterprises": _master(read_master, Path(spec["master"]), ENTERPRISE)[0].select("uscc"),
        "trailing_row_counts": [],
    }
    calls = int(spec.get("calls", 3))
    seconds: list[float] = []
    failed_checks: list[str] = []
    try:
        with steps.step("import_quality"):
            from quality.checks import Reconciliation, evaluate
        api = "quality.checks.evaluate"
    except ImportError:
        evaluate = None  # type: ignore[assignment]
        api = "quality.gx.validate_partition"
    for i in range(calls):
        name = f"gate.call{i + 1}"
        if evaluate is not None:
            recon = Reconciliation(spec["landed"], clean.height, spec["quarantined"], spec["duplicates"])
            with steps.step(name):
                ev = evaluate(
                    SILVER_TELEMETRY,
                    clean,
                    partition=partition,
                    run_id=f"bench-{i}",
                    gx_home=gx_home,
                    reconciliation=recon,
                    row_rule_counts=spec.get("quarantine_reasons") or {},
                    evaluated=spec["landed"],
                    context=context,
                )
            failed_checks = [c.check_name for c in ev.check_results if not c.passed]
        else:
            from quality.checks import gated_rules  # noqa: F401  (only when checks.py is importable)
            from quality.gx import validate_partition
            from quality.rules import rules_for

            rules = [r for r in rules_for(SILVER_TELEMETRY.name) if r.expectation is not None]
            with steps.step(name):
                out = validate_partition(
                    gx_home, SILVER_TELEMETRY.name, partition, clean, rules, f"bench-{i}"
                )
            failed_checks = [o.rule_id for o in out.outcomes if not o.success]
        seconds.append(steps.seconds[name])
    # The GX part alone, without the Data Docs rebuild (build_docs=False), warm.
    no_docs = None
    try:
        from quality.gx import validate_partition
        from quality.rules import rules_for

        rules = [r for r in rules_for(SILVER_TELEMETRY.name) if r.expectation is not None]
        with steps.step("gx_no_docs"):
            validate_partition(
                gx_home, SILVER_TELEMETRY.name, partition, clean, rules, "bench-nodocs", build_docs=False
            )
        no_docs = steps.seconds["gx_no_docs"]
    except (ImportError, TypeError):
        pass
    return {
        "api": api,
        "rows": clean.height,
        "cold_seconds": seconds[0],
        "warm_seconds": statistics.median(seconds[1:]) if len(seconds) > 1 else None,
        "call_seconds": seconds,
        "gx_no_docs_seconds": no_docs,
        "failed_checks": failed_checks,
    }
