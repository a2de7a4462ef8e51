"""What a benchmark run's numbers say: medians per engine and size, the goals of issue 13 met or not,
the memory flatness ratio, and the findings written at the top of BENCHMARKS.md."""

from __future__ import annotations

import statistics

from rich.console import Console

from bench.machine import GIB, MIB, fmt_rows

LARGE_ROWS = 50_000_000


ENGINES = ("ours", "polars", "duckdb")


BARE = ("polars", "duckdb")


# Goals from the issue.
GOAL_RATIO = 1.3  # ours within 1.3x of the faster bare engine


GOAL_RSS_ROWS, GOAL_RSS_BYTES = 50_000_000, 4 * GIB  # 50M rows at <= 4 GiB peak RSS


GOAL_FLATNESS = 1.3  # peak RSS at 50M <= 1.3x the peak at 10M


GOAL_GATE_SHARE = 0.20  # gate <= 20% of the silver transform


GOAL_ANALYST_P95_MS = 50.0


def stats(xs: list[float]) -> dict:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}


def summarize_engine(runs: list[dict], rows: int) -> dict:
    ok = [r for r in runs if r["status"] == "ok"]
    out: dict = {
        "runs": runs,
        "status": "ok" if len(ok) == len(runs) and ok else ("killed" if runs else "skipped"),
    }
    if not ok:
        out["error"] = runs[-1].get("error") if runs else None
        out["peak_rss_mib"] = max((r.get("peak_rss", 0) for r in runs), default=0) / MIB
        return out
    totals = [r["seconds"]["total"] for r in ok]
    s = stats(totals)
    out.update({f"{k}_seconds": v for k, v in s.items() if k != "n"})
    out["n_runs"] = s["n"]
    out["rows_per_second"] = rows / s["median"]
    out["peak_rss_mib"] = max(r["peak_rss"] for r in runs) / MIB
    out["peak_rss_mib_median"] = statistics.median(r["peak_rss"] for r in ok) / MIB
    names = sorted({k for r in ok for k in r["seconds"]})
    out["steps_median_seconds"] = {
        k: statistics.median(r["seconds"].get(k, 0.0) for r in ok) for k in names if k != "import"
    }
    out["steps_peak_rss_mib"] = {
        k: max(r.get("rss_peak_step", {}).get(k, 0) for r in ok) / MIB for k in names if k != "import"
    }
    out["import_seconds_median"] = statistics.median(r["seconds"].get("import", 0.0) for r in ok)
    if len(ok) < len(runs):
        out["status"] = "partial"
        out["error"] = next(r.get("error") for r in runs if r["status"] != "ok")
    return out


def ratio_to_best_bare(size: dict) -> tuple[float | None, str | None]:
    eng = size["engines"]
    if eng.get("ours", {}).get("status") != "ok":
        return None, None
    bare = {e: eng[e]["median_seconds"] for e in BARE if eng.get(e, {}).get("status") in ("ok", "partial")}
    if not bare:
        return None, None
    best = min(bare, key=bare.__getitem__)
    return eng["ours"]["median_seconds"] / bare[best], best


def evaluate_goals(result: dict) -> list[dict]:
    goals = []
    for size in result["sizes"]:
        ratio, best = size.get("ratio_ours_vs_best_bare"), size.get("best_bare")
        goals.append(
            {
                "goal": f"ours within {GOAL_RATIO}x of the faster bare engine ({fmt_rows(size['rows_requested'])} rows)",
                "value": "no bare engine run at this size" if ratio is None else f"{ratio:.2f}x of {best}",
                "met": None if ratio is None else ratio <= GOAL_RATIO,
            }
        )
    big = [s for s in result["sizes"] if s["rows_requested"] >= GOAL_RSS_ROWS]
    skipped = [s for s in result.get("skipped_sizes", []) if s["rows_requested"] >= GOAL_RSS_ROWS]
    if skipped and not big:
        goals.append(
            {
                "goal": f"{fmt_rows(GOAL_RSS_ROWS)} rows at peak RSS <= {GOAL_RSS_BYTES // GIB} GiB (ours)",
                "value": f"not measured: {skipped[0]['reason']}",
                "met": None,
            }
        )
    elif big:
        for size in big:  # the goal's size and any larger one, each under its own name
            ours = size["engines"].get("ours", {})
            peak = ours_peak(size) if ours.get("status") == "ok" else ours.get("peak_rss_mib")
            killed = ours.get("status") == "killed"
            goals.append(
                {
                    "goal": f"{fmt_rows(size['rows_requested'])} rows at peak RSS <= {GOAL_RSS_BYTES // GIB} GiB (ours)",
                    "value": (f"killed: {ours.get('error')}" if killed else f"{peak / 1024:.1f} GiB")
                    if peak
                    else None,
                    "met": False if killed else (None if peak is None else peak * MIB <= GOAL_RSS_BYTES),
                }
            )
    else:
        # Not measured at 50M: say what the largest measured size needs, linearly extrapolated.
        measured = sorted(
            (s for s in result["sizes"] if s["engines"].get("ours", {}).get("status") == "ok"),
            key=lambda x: x["rows"],
        )
        if measured:
            s = measured[-1]
            rss = s["engines"]["ours"]["peak_rss_mib"] * MIB
            first = s["engines"]["ours"]["runs"][0]
            if first.get("shards", 0) > first.get("shard_workers", 1):
                # shards at their row budget, as many at once as at any larger size: memory stays flat
                slope = 0.0
            elif len(measured) >= 2:  # line through the two largest sizes
                p = measured[-2]
                slope = (rss - p["engines"]["ours"]["peak_rss_mib"] * MIB) / max(1, s["rows"] - p["rows"])
            else:
                slope = rss / s["rows"]
            projected = rss + slope * (GOAL_RSS_ROWS - s["rows"])
            goals.append(
                {
                    "goal": f"{fmt_rows(GOAL_RSS_ROWS)} rows at peak RSS <= {GOAL_RSS_BYTES // GIB} GiB (ours)",
                    "value": f"not run (--large); {rss / GIB:.1f} GiB at {fmt_rows(s['rows_requested'])} rows, "
                    f"~{projected / GIB:.1f} GiB projected at {fmt_rows(GOAL_RSS_ROWS)}"
                    + (" (shards at their row budget: flat)" if slope == 0.0 else ""),
                    "met": False if projected > GOAL_RSS_BYTES and s["rows"] >= 1_000_000 else None,
                }
            )
    flat = result.get("memory_flatness")
    if flat:
        goals.append(
            {
                "goal": f"peak RSS at {fmt_rows(flat['rows'])} <= {GOAL_FLATNESS}x the peak at 10M (ours)",
                "value": f"{flat['ratio']:.2f}x",
                "met": flat["ratio"] <= GOAL_FLATNESS,
            }
        )
    for size in result["sizes"]:
        gate = size.get("gate") or {}
        share = gate.get("share_of_silver_warm")
        if share is not None:
            goals.append(
                {
                    "goal": f"quality gate <= {GOAL_GATE_SHARE:.0%} of the silver transform ({fmt_rows(size['rows_requested'])} rows)",
                    "value": f"{share:.0%} warm, {gate['share_of_silver_cold']:.0%} cold (first call in a process)",
                    "met": share <= GOAL_GATE_SHARE,
                }
            )
    analyst = result.get("analyst") or {}
    if analyst.get("queries"):
        worst = max(q["serving_mart"]["p95_ms"] for q in analyst["queries"].values())
        raw = max(q["delta_view"]["p95_ms"] for q in analyst["queries"].values())
        bare = max(q["parquet_single_file"]["p95_ms"] for q in analyst["queries"].values())
        goals.append(
            {
                "goal": f"analyst query p95 <= {GOAL_ANALYST_P95_MS:.0f} ms (serving mart in DuckDB)",
                "value": f"worst p95 {worst:.0f} ms (bare DuckDB over one Parquet file {bare:.0f} ms; "
                f"view over delta_scan of the day partitions {raw:.0f} ms)",
                "met": worst <= GOAL_ANALYST_P95_MS,
            }
        )
    sql = result.get("sqlserve") or {}
    if sql.get("status") == "ok":
        worst = max(q["p95_ratio_vs_in_process_concurrent"] for q in sql["queries"].values())
        goals.append(
            {
                "goal": f"SQL endpoint p95 <= 2x in process ({sql['clients']} concurrent analysts, loopback)",
                "value": f"worst query p95 x{worst:.2f}; {sql['throughput_qps']:.0f} queries/s; "
                f"overhead p50 {sql['overhead_ms_p50']:.1f} ms/query"
                + (
                    f"; CPU {sql['server_cpu_ms_per_query']:.1f} ms/query (in process "
                    f"{sql['in_process_cpu_ms_per_query']:.1f})"
                    if "server_cpu_ms_per_query" in sql
                    else ""
                ),
                "met": worst <= 2.0,
            }
        )
    hk = result.get("housekeeping") or {}
    if hk.get("status") == "ok":
        worst = max(hk["ratio_after_to_single_kept_p95"].values())
        fresh = max(hk["ratio_after_to_single_p95"].values())
        goals.append(
            {
                "goal": "Delta-view analyst p95 after housekeeping <= 1.5x one compacted file (issue 17)",
                "value": f"worst x{worst:.2f} against one compacted file with the checkpoint housekeeping "
                f"writes (x{fresh:.2f} against a fresh one, no checkpoint), over {hk['data']['days']} days "
                f"in month files ({hk['usage']['after']['live_files']} files after compaction, "
                f"{hk['usage']['before']['live_files']} before)",
                "met": worst <= 1.5,
            }
        )
    sync = result.get("national_sync") or {}
    if sync.get("status") == "ok":
        rt = sync["round_trip_ms"]
        goals.append(
            {
                "goal": "national sync round-trip of one day (reported, no goal set)",
                "value": f"p50 {rt['p50_ms']:.0f} ms for {sync['enterprises']:,} enterprises",
                "met": None,
            }
        )
    return goals


def memory_flatness(result: dict, console: Console) -> None:
    """Peak RSS of ours at the largest size over the peak at 10M (the goal: at most GOAL_FLATNESS)."""
    peaks = {
        s["rows_requested"]: ours_peak(s)
        for s in result["sizes"]
        if s["engines"].get("ours", {}).get("status") == "ok"
    }
    base = peaks.get(10_000_000)
    big = max((r for r in peaks if r > 10_000_000), default=None)
    if base and big:
        ratio = peaks[big] / base
        result["memory_flatness"] = {"rows": big, "base_rows": 10_000_000, "ratio": ratio}
        console.print(
            f"[bold]memory flatness: ours peak RSS at {fmt_rows(big)} / at 10M = {ratio:.2f}[/bold]"
        )


def ours_peak(size: dict) -> float:
    """Peak RSS of any process of ours (the run's own process or a shard worker), MiB."""
    ours = size["engines"]["ours"]
    workers = max((r.get("shard_peak_rss") or 0 for r in ours.get("runs", [])), default=0) / MIB
    return max(ours.get("peak_rss_mib") or 0.0, workers)


LEAVES = {
    "ingest": (),
    "day": ("day.plan", "day.prepare", "day.shards", "day.commit"),
}


SHARD_PHASES = ("day.shards.read", "day.shards.clean", "day.shards.themes", "day.shards.stage")


LEAF_LABELS = {
    "ingest": "landing -> bronze (ingest_landing: parse, route, streamed bronze commit, ledger)",
    "day.plan": "shard count from the day's bronze rows",
    "day.prepare": "orphan cleanup + previous day's meter tail",
    "day.shards": "shards (read bronze slice, clean, themes, stage files)",
    "day.commit": "one Delta commit per table",
    "day.shards.read": "shards: read bronze slice + master",
    "day.shards.clean": "shards: clean_telemetry",
    "day.shards.themes": "shards: energy_daily + equipment_daily",
    "day.shards.stage": "shards: write Parquet files",
}


def findings(result: dict) -> list[str]:
    """Where ours spends its time at the largest measured size, largest leaf steps first."""
    sizes = [s for s in result["sizes"] if s["engines"].get("ours", {}).get("steps_median_seconds")]
    if not sizes:
        return []
    s = max(sizes, key=lambda x: x["rows"])
    o = s["engines"]["ours"]
    med = o["steps_median_seconds"]
    total = med.get("total") or o["median_seconds"]
    leaves = {"ingest": med.get("ingest", 0.0), "day.plan": med.get("day.plan", 0.0)}
    leaves |= {k: med[k] for k in (*SHARD_PHASES, "day.prepare", "day.commit") if k in med}
    top = sorted(leaves.items(), key=lambda kv: kv[1], reverse=True)
    out = [
        f"At {fmt_rows(s['rows_requested'])} rows ours takes {o['median_seconds']:.1f} s; the largest steps: "
        + "; ".join(f"{LEAF_LABELS.get(k, k)} {v:.1f} s ({v / total:.0%})" for k, v in top[:6])
        + "."
    ]
    best = s.get("best_bare")
    if best:
        out.append(
            f"The fastest bare engine ({ENGINE_LABEL.get(best, best)}) does the whole job in "
            f"{s['engines'][best]['median_seconds']:.1f} s at {s['engines'][best]['peak_rss_mib']:,.0f} MiB; ours peaks at "
            f"{o['peak_rss_mib']:,.0f} MiB (largest step peak: "
            + max(((k, v) for k, v in o["steps_peak_rss_mib"].items()), key=lambda kv: kv[1])[0]
            + ")."
        )
    return out


ENGINE_LABEL = {"polars": "bare polars", "duckdb": "bare DuckDB", "ours": "ours"}
