"""The phases of a benchmark run besides the engines: generating a size, comparing outputs, the
quality gate, profiling, analyst queries, housekeeping, the national sync and the SQL endpoint."""

from __future__ import annotations

from pathlib import Path

from bench.machine import MIB, Bench, BenchMismatch, fmt_rows


def generate_phase(bench: Bench, n_rows: int) -> dict | None:
    """The size's landing day (cached; streamed to files above STREAM_BASE_ROWS)."""
    label = fmt_rows(n_rows)
    data = bench.child(
        {"task": "generate", "work": str(bench.work), "rows": n_rows}, f"{label}: generating data"
    )
    if data["status"] != "ok":
        bench.skipped = f"data generation killed: {data['error']}"
        bench.console.print(f"[cyan]{label:>4}[/cyan] [red]skipped: {bench.skipped}[/red]")
        return None
    gen_s = data.get("seconds", {}).get("generate")
    bench.console.print(
        f"[cyan]{label:>4}[/cyan] data: {data['rows']:,} readings, {data['enterprises']:,} enterprises, "
        f"{data['equipment']:,} equipment, {data['files']:,} files, {data['bytes'] / MIB:,.0f} MiB"
        + (f" (generated in {gen_s:.1f} s)" if gen_s else " (cached)")
    )
    return data


def compare_phase(run_dir: Path, reference: Path, done: dict[str, dict], i: int, label: str) -> None:
    """The engines must agree before any time is reported."""
    ref = reference if reference.exists() else None
    if ref is None and done:
        ref = run_dir / f"{next(iter(done))}-{i}.parquet"
    if ref is None:
        return
    from bench.engines import compare_outputs

    problems = []
    for engine in done:
        out = run_dir / f"{engine}-{i}.parquet"
        if out != ref:
            problems += compare_outputs(ref, out, label=f"{label} {engine} run {i} vs {ref.stem}")
    if problems:
        raise BenchMismatch("engines disagree:\n" + "\n".join(problems))


def gate_phase(bench: Bench, size: dict, lake: Path) -> dict | None:
    """The quality gate alone on the silver partition the last `ours` run committed."""
    from bench.data import START

    last = size.get("ours_last")
    if not last:
        return None
    label = fmt_rows(size["rows_requested"])
    gspec = {
        "task": "gate",
        "lake": str(lake),
        "day": START.isoformat(),
        "gx_home": str(lake.parent / "gx"),
        "calls": 3,
        "landed": last["landed"],
        "clean": last["clean"],
        "quarantined": last["quarantined"],
        "duplicates": last["duplicates"],
        "quarantine_reasons": last.get("quarantine_reasons") or {},
    }
    g = bench.child(gspec, f"{label}: quality gate")
    if g["status"] == "ok":
        silver = size["engines"]["ours"]["steps_median_seconds"]["day"]
        g["silver_seconds_median"] = silver
        g["share_of_silver_warm"] = (g["warm_seconds"] or g["cold_seconds"]) / silver
        g["share_of_silver_cold"] = g["cold_seconds"] / silver
        g["peak_rss_mib"] = g["peak_rss"] / MIB
        bench.console.print(
            f"[cyan]{label:>4}[/cyan] gate ({g['api']}): cold {g['cold_seconds']:.1f} s, warm "
            f"{g['warm_seconds']:.1f} s = {g['share_of_silver_warm']:.0%} of the day build ({silver:.1f} s); "
            f"failed checks: {g['failed_checks'] or 'none'}"
        )
    return g


def profile_phase(bench: Bench, size: dict, lake: Path) -> dict:
    from bench.data import START

    run_dir = lake.parent
    prof = run_dir / "ours.prof"
    spec = {
        "task": "ours",
        "landing": size["landing"],
        "day": START.isoformat(),
        "lake": str(lake),
        "output": str(run_dir / "ours-profile.parquet"),
        "profile": str(prof),
        "shard_workers": bench.shard_workers,
        "shard_rows": bench.shard_rows,
    }
    bench.child(spec, f"{fmt_rows(size['rows_requested'])}: ours under cProfile")
    bench.console.print(f"[cyan]{fmt_rows(size['rows_requested']):>4}[/cyan] cProfile of ours -> {prof}")
    return {"path": str(prof), "top": profile_top(prof)}


def analyst_phase(bench: Bench, days: int, runs: int) -> dict:
    a = bench.child(
        {"task": "analyst", "root": str(bench.work / "analyst"), "days": days, "runs": runs},
        "analyst queries",
    )
    for q, by_src in a["queries"].items():
        bench.console.print(
            f"analyst {q}: "
            + ", ".join(f"{s} p50 {v['p50_ms']:.0f} / p95 {v['p95_ms']:.0f} ms" for s, v in by_src.items())
        )
    return a


def housekeeping_phase(bench: Bench, days: int, runs: int, commits_per_day: int = 4) -> dict:
    """Analyst p95 over the Delta view of `days` day partitions before and after housekeeping, against one
    compacted file (`python -m bench.housekeeping` runs this part alone)."""
    from bench.housekeeping import summary_lines

    h = bench.child(
        {
            "task": "housekeeping",
            "root": str(bench.work / "housekeeping"),
            "days": days,
            "runs": runs,
            "commits_per_day": commits_per_day,
        },
        "housekeeping: analyst queries before and after compaction",
    )
    for line in summary_lines(h):
        bench.console.print(line)
    return h


def sync_phase(bench: Bench, runs: int, enterprises: int) -> dict:
    sync = bench.child(
        {"task": "sync", "root": str(bench.work / "sync"), "runs": runs, "enterprises": enterprises},
        "national sync round-trip on loopback",
    )
    if sync.get("status") == "ok":
        rt = sync["round_trip_ms"]
        bench.console.print(
            f"national sync: {sync['enterprises']:,} enterprises, {sync['rows']} rows, {sync['bytes']:,} bytes: "
            f"round-trip p50 {rt['p50_ms']:.0f} ms (min {rt['min_ms']:.0f}, max {rt['max_ms']:.0f})"
        )
    return sync


def sqlserve_phase(bench: Bench) -> dict:
    """20 concurrent analysts through `lakehouse serve-sql` on loopback; reported, never fatal."""
    from bench.sqlserve import sqlserve_bench, summary_lines

    with bench.console.status("SQL endpoint: 20 concurrent analysts on loopback"):
        try:
            out = sqlserve_bench(bench.work / "sqlserve")
        except Exception as exc:  # the other parts stand on their own
            out = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    if out["status"] == "ok":
        for line in summary_lines(out):
            bench.console.print(line)
    else:
        bench.console.print(f"[red]SQL endpoint bench failed: {out['error']}[/red]")
    return out


def profile_top(path: Path, n: int = 25) -> list[dict]:
    """The project's and libraries' heaviest calls by cumulative time (for 'where the time goes')."""
    import pstats

    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, fn), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{Path(file).name}:{line}({fn})",
                "file": file,
                "calls": nc,
                "tottime": tt,
                "cumtime": ct,
            }
        )
    rows.sort(key=lambda r: r["cumtime"], reverse=True)
    keep = [r for r in rows if "/work/main/" in r["file"] or "site-packages" in r["file"] or r["file"] == "~"]
    return keep[:n]
