"""The SQL endpoint under load: 20 analysts at once over loopback vs the same queries in process.

A bench home holds an analysts' role file with `mart.energy_city_industry_day` (a year of city x industry
x day roll-ups, bench.analyst's data) and 20 analyst users. `lakehouse serve-sql` runs as its own process;
each analyst is a psycopg connection on its own thread running bench.analyst's standard roll-ups in turn.
The baseline is the same queries in sealed in-process sessions (warehouse.serving.session.connect) on the same
file, serially and with 20 threads, the concurrent phases alternating in blocks with the wire's (both
meet the same background load). Reported: p50/p95 per query, throughput, and the per-query overhead of
the endpoint (serial wire p50 minus serial in-process p50).

    python -m bench.sqlserve [--clients 20] [--rounds 10] [--blocks 5] [--days 365] [--work DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.analyst import QUERIES, _quantile, build
from bench.machine import work_dir_of
from national_node.loopback import free_port, wait_port

MART = "mart.energy_city_industry_day"
PASSWORD = "bench-analyst-pw"


def _stats(xs: list[float]) -> dict:
    return {
        "n": len(xs),
        "p50_ms": _quantile(xs, 0.5) * 1000,
        "p95_ms": _quantile(xs, 0.95) * 1000,
        "mean_ms": statistics.fmean(xs) * 1000,
    }


def prepare_home(work: Path, days: int, clients: int) -> Path:
    """A LAKEHOUSE_HOME with the analysts' role file (the mart only) and `clients` analyst users."""
    import duckdb

    from warehouse.access import STEWARD, role_database
    from warehouse.sqlusers import add_user, load_users

    data = build(work / "data", days)
    home = work / "home"
    db = home / "warehouse.duckdb"
    if not db.exists() or json.loads((home / "READY.json").read_text()).get("days") != days:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        tmp = db.with_name("building.duckdb")
        con = duckdb.connect(str(tmp))
        con.execute("CREATE SCHEMA mart")
        con.execute(
            f"CREATE TABLE {MART} AS SELECT * FROM read_parquet('{work / 'data' / 'energy_rollup.parquet'}')"
        )
        con.close()
        shutil.copyfile(tmp, role_database(db, STEWARD))
        os.replace(tmp, db)
        (home / "READY.json").write_text(json.dumps({"days": days, "rows": data["rows"]}))
    users = load_users(home / "secrets" / "sql_users.json")
    for i in range(clients):
        if f"analyst{i:02d}" not in users:
            add_user(home / "secrets" / "sql_users.json", f"analyst{i:02d}", "analyst", PASSWORD)
    return home


@contextlib.contextmanager
def _server(home: Path, clients: int):
    port = free_port()
    env = os.environ | {
        "LAKEHOUSE_HOME": str(home),
        "LAKEHOUSE_SQL_MAX_CONNECTIONS": str(clients + 8),
        "LAKEHOUSE_SQL_STATEMENT_TIMEOUT_S": "120",
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "lakehouse"), "serve-sql", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, timeout=180, proc=proc)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sql(name: str) -> str:
    return QUERIES[name].format(src=MART)


def _timed_rounds(con: Any, rounds: int, times: dict[str, list[float]], lock: threading.Lock) -> None:
    """Every analyst query, `rounds` times over, on one session (DuckDB in process or psycopg over the
    wire: both have execute().fetchall()), each execution timed on its own."""
    for _ in range(rounds):
        for q in QUERIES:
            t0 = time.perf_counter()
            con.execute(_sql(q)).fetchall()
            with lock:
                times[q].append(time.perf_counter() - t0)


def _in_process(db: Path, rounds: int, threads: int) -> tuple[dict[str, list[float]], float]:
    from warehouse.serving.session import connect

    times: dict[str, list[float]] = {q: [] for q in QUERIES}
    lock = threading.Lock()
    barrier = threading.Barrier(threads)  # all sessions open before the clock starts, as over the wire

    def worker() -> None:
        con = connect(db, threads=1, memory_limit="1GB")  # as the endpoint opens each session
        barrier.wait()
        _timed_rounds(con, rounds, times, lock)
        con.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return times, time.perf_counter() - t0


def _over_wire(port: int, rounds: int, clients: int) -> tuple[dict[str, list[float]], float, int]:
    import psycopg

    times: dict[str, list[float]] = {q: [] for q in QUERIES}
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def worker(i: int) -> None:
        try:
            with psycopg.connect(
                f"host=127.0.0.1 port={port} dbname=lakehouse user=analyst{i:02d} password={PASSWORD}"
            ) as con:
                barrier.wait()
                _timed_rounds(con, rounds, times, lock)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.abort()

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]}")
    return times, time.perf_counter() - t0, sum(len(v) for v in times.values())


def sqlserve_bench(
    work: Path, *, clients: int = 20, rounds: int = 10, days: int = 365, blocks: int = 5
) -> dict:
    """The numbers (dict, JSON-ready); see the module docstring.

    The concurrent phases alternate in `blocks` blocks (in process, wire, wire, in process, ...), so that
    both meet the same background load of a shared machine; each block runs rounds/blocks rounds.
    """
    home = prepare_home(work, days, clients)
    db = home / "warehouse.duckdb"
    _in_process(db, 1, 1)  # warm the page cache
    per_block = max(1, rounds // blocks)
    conc_local: dict[str, list[float]] = {q: [] for q in QUERIES}
    conc_wire: dict[str, list[float]] = {q: [] for q in QUERIES}
    conc_local_wall = wall = 0.0
    n = 0
    server_cpu = local_cpu = 0.0
    with _server(home, clients) as (port, pid):
        _over_wire(port, 1, 1)
        serial_local, _ = _in_process(db, rounds, 1)
        serial_wire, _, _ = _over_wire(port, rounds, 1)
        for block in range(blocks):
            for phase in ("local", "wire") if block % 2 == 0 else ("wire", "local"):
                if phase == "local":
                    cpu0 = time.process_time()
                    times, took = _in_process(db, per_block, clients)
                    local_cpu += time.process_time() - cpu0
                    conc_local_wall += took
                    target = conc_local
                else:
                    cpu0 = _cpu_s(pid)
                    times, took, count = _over_wire(port, per_block, clients)
                    server_cpu += _cpu_s(pid) - cpu0
                    wall, n = wall + took, n + count
                    target = conc_wire
                for q, xs in times.items():
                    target[q].extend(xs)
    queries = {}
    for q in QUERIES:
        queries[q] = {
            "in_process_serial": _stats(serial_local[q]),
            "in_process_concurrent": _stats(conc_local[q]),
            "wire_serial": _stats(serial_wire[q]),
            "wire_concurrent": _stats(conc_wire[q]),
        }
        queries[q]["overhead_ms"] = (
            queries[q]["wire_serial"]["p50_ms"] - queries[q]["in_process_serial"]["p50_ms"]
        )
        queries[q]["p95_ratio_vs_in_process_concurrent"] = (
            queries[q]["wire_concurrent"]["p95_ms"] / queries[q]["in_process_concurrent"]["p95_ms"]
        )
    return {
        "status": "ok",
        "clients": clients,
        "rounds": per_block * blocks,
        "blocks": blocks,
        "rows": json.loads((home / "READY.json").read_text())["rows"],
        "queries": queries,
        "throughput_qps": n / wall,
        "in_process_concurrent_qps": clients * per_block * blocks * len(QUERIES) / conc_local_wall,
        "server_cpu_ms_per_query": 1000 * server_cpu / n,
        "in_process_cpu_ms_per_query": 1000 * local_cpu / (clients * per_block * blocks * len(QUERIES)),
        "overhead_ms_p50": statistics.median(v["overhead_ms"] for v in queries.values()),
        "loadavg": list(os.getloadavg()),
    }


def summary_lines(r: dict) -> list[str]:
    lines = [
        f"sql endpoint, {r['clients']} concurrent analysts x {r['rounds']} rounds over {r['rows']:,} rows: "
        f"{r['throughput_qps']:.0f} queries/s (in process, same threads: {r['in_process_concurrent_qps']:.0f}/s); "
        f"overhead per query p50 {r['overhead_ms_p50']:.1f} ms; endpoint CPU {r['server_cpu_ms_per_query']:.1f} ms/query "
        f"(in process {r['in_process_cpu_ms_per_query']:.1f})"
    ]
    for q, v in r["queries"].items():
        lines.append(
            f"  {q}: wire p50 {v['wire_concurrent']['p50_ms']:.1f} / p95 {v['wire_concurrent']['p95_ms']:.1f} ms; "
            f"in process p50 {v['in_process_concurrent']['p50_ms']:.1f} / p95 {v['in_process_concurrent']['p95_ms']:.1f} ms "
            f"(p95 x{v['p95_ratio_vs_in_process_concurrent']:.2f}); serial wire {v['wire_serial']['p50_ms']:.1f} "
            f"vs in process {v['in_process_serial']['p50_ms']:.1f} ms"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sqlserve", description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--blocks", type=int, default=5, help="alternations of the in-process and wire phases")
    p.add_argument("--work", type=Path, default=work_dir_of(None) / "sqlserve")
    p.add_argument("--json", type=Path, help="Also write the numbers here")
    a = p.parse_args(argv)
    r = sqlserve_bench(a.work.resolve(), clients=a.clients, rounds=a.rounds, days=a.days, blocks=a.blocks)
    print("\n".join(summary_lines(r)))
    if a.json:
        a.json.write_text(json.dumps(r, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
