"""`lakehouse generate` and `lakehouse demo`: the simulated province, built and checked against its truth."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Annotated

import typer

from orchestration.cli_output import console, print_day, print_frame
from orchestration.cli_sync import sync as sync_cmd
from warehouse.registry import (
    ENERGY_REPORT_AGREEMENT,
    ENTERPRISE,
    QUARANTINE_ENERGY_REPORT,
    QUARANTINE_ENTERPRISE,
    QUARANTINE_TELEMETRY,
    QUARANTINE_TRADE,
    RECONCILIATION,
    SILVER_TELEMETRY,
    TABLES,
)
from warehouse.settings import settings

DEMO_ENTERPRISES, DEMO_DAYS, DEMO_START, DEMO_SEED = 60, 7, "2026-11-01", 42


def generate(
    enterprises: Annotated[int, typer.Option(help="Number of enterprises")] = DEMO_ENTERPRISES,
    days: Annotated[int, typer.Option(help="Number of local days of telemetry")] = DEMO_DAYS,
    start: Annotated[str, typer.Option(help="First local day, YYYY-MM-DD")] = DEMO_START,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files")] = DEMO_SEED,
    defect_rate: Annotated[float, typer.Option(help="Per-record defect probability")] = 0.01,
) -> None:
    """Write a simulated province into LAKEHOUSE_HOME/landing, with a ground-truth manifest."""
    from simulator import generate as simulate

    s = settings()
    s.prepare()
    t0 = time.perf_counter()
    manifest = simulate(
        s.landing,
        s.manifest,
        enterprises=enterprises,
        days=days,
        start=dt.date.fromisoformat(start),
        seed=seed,
        defect_rate=defect_rate,
    )
    exp = manifest["expected"]
    console.print(
        f"generated {manifest['files']['written']:,} files, {exp['landed']:,} records "
        f"({manifest['master']['enterprises']} enterprises, {manifest['master']['equipment']} equipment) "
        f"in {time.perf_counter() - t0:.1f}s -> {s.landing}"
    )


def demo_summary() -> tuple[bool, list[str]]:
    """Per-table counts, quarantine by reason, and the reconciliation against the simulator's truth."""
    from warehouse.serving.session import connect

    s = settings()
    con = connect(s.warehouse_db, read_only=True)
    problems: list[str] = []
    try:
        counts = []
        for name in TABLES:
            try:
                counts.append((name, con.sql(f"SELECT count(*) FROM {name}").fetchone()[0]))
            except Exception:
                counts.append((name, None))
        import polars as pl

        print_frame(pl.DataFrame(counts, schema=["table", "rows"], orient="row"), title="tables")
        reasons = con.sql(
            f"SELECT reason, count(*) AS records FROM {QUARANTINE_TELEMETRY.name} GROUP BY 1 ORDER BY 1"
        ).pl()
        print_frame(reasons, title=f"{QUARANTINE_TELEMETRY.name} by reason")
        rec = con.sql(
            "SELECT table_name, count(*) AS partitions, sum(landed) AS landed, sum(clean) AS clean, "
            "sum(quarantined) AS quarantined, sum(duplicates) AS duplicates, "
            "count(*) FILTER (WHERE landed <> clean + quarantined + duplicates) AS not_reconciled "
            f"FROM {RECONCILIATION.name} GROUP BY 1 ORDER BY 1"
        ).pl()
        print_frame(rec, title=RECONCILIATION.name)
        problems += [
            f"{t}: {n} partitions do not reconcile"
            for t, n in rec.select("table_name", "not_reconciled").iter_rows()
            if n
        ]
        if s.manifest.exists():
            truth = json.loads(s.manifest.read_text())["expected"]
            silver = rec.filter(pl.col("table_name") == SILVER_TELEMETRY.name).to_dicts()
            got = silver[0] if silver else {}
            for key in ("landed", "clean", "duplicates"):
                if got.get(key) != truth[key]:
                    problems.append(
                        f"{SILVER_TELEMETRY.name} {key}: {got.get(key)} vs ground truth {truth[key]}"
                    )
            got_reasons = dict(reasons.iter_rows())
            for reason, n in truth["quarantined"].items():
                if got_reasons.get(reason, 0) != n:
                    problems.append(f"quarantine {reason}: {got_reasons.get(reason, 0)} vs ground truth {n}")
            problems += _registry_and_trading_truth(con, json.loads(s.manifest.read_text()))
    finally:
        con.close()
    return not problems, problems


def _registry_and_trading_truth(con, manifest: dict) -> list[str]:
    """quarantine.enterprise / quarantine.trade by reason and the golden record against the simulator."""
    problems: list[str] = []
    checks = [
        (QUARANTINE_ENTERPRISE.name, manifest.get("registry", {}).get("quarantined")),
        (
            QUARANTINE_TRADE.name,
            {k: v for k, v in manifest.get("trading", {}).get("quarantined", {}).items() if v},
        ),
        (
            QUARANTINE_ENERGY_REPORT.name,
            {k: v for k, v in manifest.get("energy_reports", {}).get("quarantined", {}).items() if v},
        ),
    ]
    for table, truth in checks:
        if truth is None:
            continue
        got = con.sql(f"SELECT reason, count(*) AS records FROM {table} GROUP BY 1 ORDER BY 1").pl()
        print_frame(got, title=f"{table} by reason")
        if dict(got.iter_rows()) != truth:
            problems.append(f"{table}: {dict(got.iter_rows())} vs ground truth {truth}")
    if "energy_reports" in manifest:
        agreement = con.sql(
            "SELECT status, count(*) AS reports, max(abs(deviation)) AS max_abs_deviation "
            f"FROM {ENERGY_REPORT_AGREEMENT.name} GROUP BY 1 ORDER BY 1"
        ).pl()
        print_frame(agreement, title=f"{ENERGY_REPORT_AGREEMENT.name} (daily sums vs reports, ±5%)")
        got = sorted(
            f"{u} {m}"
            for u, m in con.sql(
                f"SELECT uscc, month FROM {ENERGY_REPORT_AGREEMENT.name} WHERE status = 'disagrees'"
            ).fetchall()
        )
        if got != manifest["energy_reports"]["disagreeing"]:
            problems.append(
                f"energy reports disagreeing {got} vs ground truth {manifest['energy_reports']['disagreeing']}"
            )
    golden = manifest.get("registry", {}).get("golden")
    if golden:
        cur, rows = con.sql(
            f"SELECT count(*) FILTER (WHERE valid_to IS NULL), count(*) FROM {ENTERPRISE.name}"
        ).fetchone()
        if (cur, rows) != (golden["current"], golden["history_rows"]):
            problems.append(
                f"{ENTERPRISE.name} current/history {cur}/{rows} vs ground truth "
                f"{golden['current']}/{golden['history_rows']}"
            )
    return problems


def demo_sync(until: dt.date) -> None:
    """Start a reference national node on loopback, sync the demo period to it, print what it holds."""
    import httpx

    from assets.sync.signing import sign_request
    from national_node.loopback import running_node
    from warehouse.domain import PROVINCE_CODE

    s = settings()
    key = s.sync_key()
    with running_node(s.home / "national_node", key.node_keys()) as url:
        sync_cmd(until=until.isoformat(), node=url, since=DEMO_START, timeout=10.0, attempts=6)
        headers = sign_request(  # reads need a key too: the province reads what it sent
            method="GET",
            path="/v1/status",
            body=b"",
            node=PROVINCE_CODE,
            key_id=key.key_id,
            secret=key.secret,
            idempotency_key="",
        )
        held = httpx.get(
            f"{url}/v1/status", headers={k: v for k, v in headers.items() if v}, timeout=5
        ).json()
        console.print(
            f"national node {url} holds: {json.dumps({k: v for k, v in held.items() if k != 'node_id'})}"
        )


def demo(
    enterprises: Annotated[int, typer.Option()] = DEMO_ENTERPRISES,
    days: Annotated[int, typer.Option()] = DEMO_DAYS,
) -> None:
    """Generate the demo province (if not there), materialize everything, print a summary."""
    from orchestration.runs import run_pending  # Dagster on demand (see cli.py: materialize)

    s = settings()
    t0 = time.perf_counter()
    if not s.manifest.exists():
        generate(enterprises=enterprises, days=days, start=DEMO_START, seed=DEMO_SEED, defect_rate=0.01)
    summary = run_pending(on_day=print_day)
    ok, problems = demo_summary()
    console.print(
        f"demo: {len(summary['runs'])} Dagster runs ({len(summary['failed'])} failed), "
        f"{time.perf_counter() - t0:.1f}s wall (ingest {summary['ingest_seconds']:.1f}s, "
        f"{len(summary['days'])} day(s) built in {summary['daily_seconds']:.1f}s); home {s.home}"
    )
    for p in problems:
        console.print(f"[red]{p}[/red]")
    if summary["failed"] or not ok:
        raise typer.Exit(1)
    demo_sync(dt.date.fromisoformat(DEMO_START) + dt.timedelta(days=days - 1))
    console.print("[green]all partitions reconcile with the simulator's ground truth[/green]")
    console.print(
        'next: `make ui` (http://127.0.0.1:3000) or `lakehouse sql "select * from theme.energy_daily limit 5"`'
    )


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command()(demo)
