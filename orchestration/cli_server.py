"""`lakehouse server up|down`: the server profile's processes on loopback, started and stopped by PID.

`up` starts the object store, LAKEHOUSE_WORKERS Celery workers (the day build's shards), the Dagster
webserver, the Dagster daemon (it dequeues runs under the queue's limits and runs schedules and
sensors) and the SQL endpoint (`lakehouse serve-sql`, once the role databases exist), each in its own
session, logging to $LAKEHOUSE_HOME/run/
<name>.log with its PID in <name>.pid. `down` stops exactly the processes named by those PID files (a PID
whose command line is no longer ours is left alone: the number may have been reused).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from warehouse.settings import settings

server_app = typer.Typer(help="Start and stop the server profile's processes.", no_args_is_help=True)
BIN = Path(sys.executable).parent


def _commands(
    webserver_port: int, objectstore_port: int, sql_port: int = 5433
) -> dict[str, tuple[list[str], str]]:
    code = ["-m", "orchestration.definitions"]
    s = settings()
    workers = {
        # solo pool: the worker is one process (its PID is the one we stop) holding one shard at a time
        f"worker-{i}": (
            [
                str(BIN / "celery"),
                "-A",
                "assets.telemetry.workers",
                "worker",
                "--pool=solo",
                "-Q",
                s.shard_queue,
                "-n",
                f"worker-{i}-{s.shard_queue}@%h",
                "--loglevel=INFO",
            ],
            f"queue {s.shard_queue}",
        )
        for i in range(1, s.workers + 1)
    }
    objectstore = {
        "objectstore": (
            [str(BIN / "lakehouse"), "objectstore", "serve", "--port", str(objectstore_port)],
            f"http://127.0.0.1:{objectstore_port}",
        )
    }
    return (
        objectstore
        | workers
        | {
            "webserver": (
                [str(BIN / "dagster-webserver"), *code, "-h", "127.0.0.1", "-p", str(webserver_port)],
                f"http://127.0.0.1:{webserver_port}",
            ),
            "daemon": ([str(BIN / "dagster-daemon"), "run", *code], "-"),
            "sql": (
                [str(BIN / "lakehouse"), "serve-sql", "--port", str(sql_port)],
                f"postgresql://127.0.0.1:{sql_port}/lakehouse",
            ),
        }
    )


def _sql_ready() -> str | None:
    """Why the SQL endpoint cannot start yet (it serves the role databases `lakehouse materialize` builds)."""
    from warehouse.access import ROLES, role_database

    s = settings()
    missing = [r.name for r in ROLES.values() if not role_database(s.warehouse_db, r).is_file()]
    return f"no role database for {', '.join(missing)} yet: run `lakehouse materialize`" if missing else None


@server_app.command("up")
def up(
    webserver_port: Annotated[int, typer.Option()] = 3000,
    objectstore_port: Annotated[int, typer.Option()] = 9000,
    sql_port: Annotated[int, typer.Option(help="the SQL endpoint's port (lakehouse serve-sql)")] = 5433,
    only: Annotated[
        str, typer.Option(help="comma-separated subset: objectstore,webserver,daemon,workers,sql")
    ] = "",
) -> None:
    """Start the webserver, daemon, LAKEHOUSE_WORKERS Celery workers, the object store and the SQL endpoint
    on 127.0.0.1; print where each listens and logs."""
    s = settings()
    s.prepare()
    run = s.home / "run"
    run.mkdir(parents=True, exist_ok=True)
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    unknown = wanted - {"objectstore", "webserver", "daemon", "workers", "sql"}
    if unknown:
        raise typer.BadParameter(f"--only: unknown {', '.join(sorted(unknown))}")
    for name, (cmd, where) in _commands(webserver_port, objectstore_port, sql_port).items():
        if wanted and (name.split("-")[0] + ("s" if name.startswith("worker") else "")) not in wanted:
            continue
        if name == "sql" and (why := _sql_ready()):
            typer.echo(f"sql: not started ({why})")
            continue
        pid_file = run / f"{name}.pid"
        if pid_file.exists() and _ours(int(pid_file.read_text()), cmd[0]):
            typer.echo(f"{name}: already running (pid {pid_file.read_text().strip()})")
            continue
        log = run / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        pid_file.write_text(str(proc.pid))
        typer.echo(f"{name}: pid {proc.pid}, {where}, log {log}")


@server_app.command("down")
def down(timeout: Annotated[float, typer.Option(help="seconds before SIGKILL")] = 30.0) -> None:
    """Stop exactly the processes `up` started (SIGTERM, then SIGKILL after the timeout)."""
    run = settings().home / "run"
    for pid_file in sorted(run.glob("*.pid")) if run.is_dir() else []:
        pid = int(pid_file.read_text())
        if _alive(pid) and _ours(pid, ""):
            # its own session (start_new_session): the group is it and the children it spawned
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
            typer.echo(f"{pid_file.stem}: stopped (pid {pid})")
        pid_file.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _ours(pid: int, program: str) -> bool:
    """Whether the PID still runs a program from this virtualenv (the PID was not reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return False
    return str(BIN) in cmdline and (not program or program in cmdline)
