"""The backfill benchmark (issue 14): `lakehouse materialize` of D days of landing, four ways.

    python -m bench.backfill [--days 30] [--readings 1000000] [--modes ...] [--work DIR]

One province landing (the simulator at defect rate 0; ~2,070 readings per enterprise and day, so the
enterprise count follows from --readings) is generated once; every mode materializes its own copy of that
home (same files, same modification times):

- `embedded-days`: SQLite instance, lake folder, one daily_job run per day (LAKEHOUSE_DAYS_PER_RUN=1);
- `embedded-ranges`: the same with the days in ranges (LAKEHOUSE_DAYS_PER_RUN, default 31);
- `server-1`, `server-2`: the server profile (PostgreSQL instance, the lake on the moto object store,
  shards on 1 or 2 Celery workers), in ranges.

Reported per mode: wall of `lakehouse materialize` (ingest, day builds, catalog), the day builds' wall
(from its own output), number of daily_job runs and Dagster events, and the **orchestration overhead** of
the day builds: (day-build wall - the summed compute time of the daily_job asset bodies) / day-build wall.
Compute time is what each step records as `step_compute_seconds` (assets/day_range.py: from the body's
start to its first yield, i.e. reading, building, committing, gating and serving refresh; not Dagster's
run creation, plan, event writes, step start/end or resource setup). Results: bench/results/backfill.json
and backfill.md. Timings are noisy on a shared machine: the load average is recorded with each mode.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.data import READINGS_PER_ENTERPRISE_GUESS, cached_build
from bench.machine import REPO, work_dir_of

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
MODES = ("embedded-days", "embedded-ranges", "server-1", "server-2")
START, SEED = "2026-09-01", 14
S3_KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
RESULTS = REPO / "bench" / "results"


def env_of(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    base = {"LAKEHOUSE_HOME": str(home), "GX_ANALYTICS_ENABLED": "false", "DAGSTER_DISABLE_TELEMETRY": "1"}
    return env | base | extra


def lakehouse(home: Path, *args: str, timeout: float = 4 * 3600, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LAKEHOUSE, *args], env=env_of(home, **extra), capture_output=True, text=True, timeout=timeout
    )


def template_home(work: Path, days: int, enterprises: int) -> tuple[Path, dict]:
    """The generated landing (cached under `work` by its parameters) and the simulator's manifest."""
    home = work / "backfill" / "template"
    params = {"days": days, "enterprises": enterprises, "start": START, "seed": SEED}
    if cached_build(home, **params) is None:
        args = ["--enterprises", str(enterprises), "--days", str(days), "--start", START, "--seed", str(SEED)]
        done = lakehouse(home, "generate", *args, "--defect-rate", "0")
        if done.returncode != 0:
            raise RuntimeError(done.stdout + done.stderr)
        (home / "READY.json").write_text(json.dumps(params))
    return home, json.loads((home / "simulator" / "manifest.json").read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(workers: int, port: int) -> dict[str, str]:
    return {
        "LAKEHOUSE_PROFILE": "server",
        "LAKEHOUSE_LAKE_URI": "s3://lake/bench",
        "LAKEHOUSE_S3_ENDPOINT": f"http://127.0.0.1:{port}",
        "LAKEHOUSE_WORKERS": str(workers),
        **S3_KEYS,
    }


@contextlib.contextmanager
def servers(home: Path, env: dict[str, str], port: int, timeout: float = 300) -> Iterator[None]:
    """The object store and the Celery workers of this home (`lakehouse server up --only`), ready."""
    up = lakehouse(
        home, "server", "up", "--only", "objectstore,workers", "--objectstore-port", str(port), **env
    )
    try:
        if up.returncode != 0:
            raise RuntimeError(up.stdout + up.stderr)
        logs, deadline = home / "run", time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = ["ready http://" in (logs / "objectstore.log").read_text(errors="replace")]
            ready += [" ready." in p.read_text(errors="replace") for p in sorted(logs.glob("worker-*.log"))]
            if len(ready) == 1 + int(env["LAKEHOUSE_WORKERS"]) and all(ready):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"server processes not ready in {timeout} s")
        yield
    finally:
        lakehouse(home, "server", "down", **env)
        _drop_database(home, env)


def _drop_database(home: Path, env: dict[str, str]) -> None:
    from warehouse.settings import drop_pg_database, load_settings

    drop_pg_database(load_settings(env_of(home, **env)).pg_database_url)


def run_mode(mode: str, template: Path, work: Path, days_per_run: int, shard_rows: int) -> dict:
    """Materialize a fresh copy of the template home in `mode`; the figures of that one run."""
    home = work / "backfill" / mode
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, home, copy_function=shutil.copy2)
    env = {
        "LAKEHOUSE_DAYS_PER_RUN": "1" if mode == "embedded-days" else str(days_per_run),
        "LAKEHOUSE_SHARD_ROWS": str(shard_rows),
    }
    with contextlib.ExitStack() as stack:
        if mode.startswith("server-"):
            port = _free_port()
            env |= server_env(int(mode.split("-")[1]), port)
            stack.enter_context(servers(home, env, port))
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        done = lakehouse(home, "materialize", **env)
        wall = time.perf_counter() - t0
        load_after = os.getloadavg()
        if done.returncode != 0:
            raise RuntimeError(f"{mode}: materialize failed\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        collected = subprocess.run(
            [sys.executable, "-m", "bench.backfill", "collect"],
            env=env_of(home, **env) | {"PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            check=True,
        )
    runs = json.loads(collected.stdout)
    shutil.rmtree(home, ignore_errors=True)
    return summarize(mode, wall, done.stdout, runs) | {
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "days_per_run": int(env["LAKEHOUSE_DAYS_PER_RUN"]),
        "shard_rows": shard_rows,
    }


def collect() -> None:
    """(Child, in the mode's environment.) Every run of the home's instance: job, events, step compute."""
    from dagster import DagsterEventType, DagsterInstance

    from warehouse.settings import settings

    settings().prepare()
    instance = DagsterInstance.get()
    out = []
    for record in instance.get_run_records():
        run = record.dagster_run
        logs = instance.all_logs(run.run_id)
        compute: dict[str, float] = {}  # per step: every partition of an output repeats the step's figure
        for e in logs:
            if e.dagster_event and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                value = e.asset_materialization.metadata.get("step_compute_seconds")
                if value is not None:
                    compute[e.step_key] = float(value.value)
        out.append(
            {
                "job": run.job_name,
                "status": run.status.value,
                "events": len(logs),
                "seconds": (record.end_time or 0) - (record.start_time or 0),
                "compute_seconds": sum(compute.values()),
            }
        )
    instance.dispose()
    print(json.dumps(out))


def summarize(mode: str, wall: float, stdout: str, runs: list[dict]) -> dict:
    m = re.search(r"ingest ([\d.]+)s; built (\d+) day\(s\) in ([\d.]+)s; catalog ([\d.]+)s", stdout)
    if m is None:
        raise RuntimeError(f"{mode}: no summary line in\n{stdout[-2000:]}")
    daily = [r for r in runs if r["job"] == "daily_job"]
    daily_s, compute = float(m.group(3)), sum(r["compute_seconds"] for r in daily)
    return {
        "mode": mode,
        "wall_s": round(wall, 1),
        "ingest_s": float(m.group(1)),
        "days": int(m.group(2)),
        "daily_s": daily_s,
        "catalog_s": float(m.group(4)),
        "daily_runs_s": round(sum(r["seconds"] for r in daily), 1),  # start to end of each run, summed
        "daily_runs": len(daily),
        "daily_events": sum(r["events"] for r in daily),
        "events_per_daily_run": round(sum(r["events"] for r in daily) / max(1, len(daily)), 1),
        "all_runs": len(runs),
        "all_events": sum(r["events"] for r in runs),
        "daily_compute_s": round(compute, 1),
        "overhead_s": round(daily_s - compute, 1),
        "overhead_share": round((daily_s - compute) / daily_s, 3) if daily_s else None,
    }


def markdown(result: dict) -> str:
    cfg = result["config"]
    lines = [
        f"# Backfill benchmark: {cfg['days']} days x ~{cfg['readings_per_day']:,} readings/day",
        "",
        f"`python -m bench.backfill {' '.join(cfg['argv'])}` at {cfg['commit']} on {cfg['cpus']} CPUs; "
        f"{cfg['landed']:,} readings landed in all ({cfg['enterprises']} enterprises), "
        f"LAKEHOUSE_SHARD_ROWS={cfg['shard_rows']:,}. Overhead share = "
        "(day-build wall - summed `step_compute_seconds` of the daily_job asset bodies) / day-build wall.",
        "",
        "| mode | days/run | wall s | day builds s | daily runs | events/run | events (all runs) "
        "| compute s | overhead s | overhead share | load 1m before/after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["modes"]:
        lines.append(
            f"| {r['mode']} | {r['days_per_run']} | {r['wall_s']} | {r['daily_s']} | {r['daily_runs']} "
            f"| {r['events_per_daily_run']} | {r['all_events']} | {r['daily_compute_s']} | {r['overhead_s']} "
            f"| {r['overhead_share']:.1%} | {r['load_before'][0]} / {r['load_after'][0]} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["collect"]:
        collect()
        return
    p = argparse.ArgumentParser(prog="python -m bench.backfill")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--readings", type=int, default=1_000_000, help="readings per day")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--days-per-run", type=int, default=31)
    p.add_argument("--shard-rows", type=int, default=500_000, help="LAKEHOUSE_SHARD_ROWS of every mode")
    p.add_argument("--work", type=Path, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    work = work_dir_of(args.work)
    enterprises = max(1, round(args.readings / READINGS_PER_ENTERPRISE_GUESS))
    template, manifest = template_home(work, args.days, enterprises)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    result: dict = {
        "config": {
            "argv": argv,
            "days": args.days,
            "readings_per_day": args.readings,
            "enterprises": enterprises,
            "landed": manifest["expected"]["landed"],
            "commit": os.environ.get("LAKEHOUSE_BENCH_COMMIT") or commit.stdout.strip(),  # run from an export
            "cpus": os.cpu_count(),
            "shard_rows": args.shard_rows,
        },
        "modes": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    for mode in args.modes.split(","):  # written after each mode: a long run leaves what it measured
        result["modes"].append(run_mode(mode, template, work, args.days_per_run, args.shard_rows))
        print(json.dumps(result["modes"][-1]), flush=True)
        (args.out / "backfill.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / "backfill.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
