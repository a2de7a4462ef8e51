"""`lakehouse serve-sql` and `lakehouse users add|remove|list|passwd`: the PostgreSQL-wire SQL endpoint.

Registered in the main CLI by `register(app)`; `python -m orchestration.cli_sql ...` runs them alone.
Passwords come from a prompt, or from stdin (`--password-stdin`) or LAKEHOUSE_SQL_PASSWORD for scripts;
never from an argument (argv shows in `ps` and shell history).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from warehouse.settings import settings

console = Console(width=None if sys.stdout.isatty() else 140)
users_app = typer.Typer(help="Users of the SQL endpoint (lakehouse serve-sql).", no_args_is_help=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def serve_sql(
    port: Annotated[int, typer.Option(help="TCP port")] = 5433,
    host: Annotated[str, typer.Option(help="Interface; loopback unless you mean it")] = "127.0.0.1",
) -> None:
    """Serve the role databases over the PostgreSQL wire protocol (psql, psycopg, DBeaver, Superset)."""
    from warehouse.access import ROLES, role_database
    from warehouse.pgwire import SqlServer, configure_logging, log

    s = settings()
    missing = [r for r in ROLES.values() if not role_database(s.warehouse_db, r).is_file()]
    if missing:
        raise fail(f"no role database for {', '.join(r.name for r in missing)}: run `lakehouse materialize`")
    if not s.sql_users.is_file():
        console.print(f"[yellow]no users yet ({s.sql_users}): add one with `lakehouse users add NAME`[/]")
    logfile = configure_logging(s.logs)
    try:
        server = SqlServer(s, host, port)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if server.state.tls is None:
        msg = (
            "TLS is off (set LAKEHOUSE_SQL_TLS_CERT and LAKEHOUSE_SQL_TLS_KEY): passwords never cross the wire "
            "(SCRAM-SHA-256), but queries and results travel in clear"
        )
        log.warning(msg)
        console.print(f"[yellow]warning: {msg}[/]")
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    thread = threading.Thread(target=server.serve_forever, name="accept", daemon=True)
    thread.start()
    log.info("listening on %s:%s", *server.address[:2])
    console.print(f"SQL endpoint on postgresql://{host}:{server.address[1]}/lakehouse, log {logfile}")
    stop.wait()
    server.shutdown()
    thread.join(timeout=10)
    log.info("stopped")
    console.print("stopped")


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if os.environ.get("LAKEHOUSE_SQL_PASSWORD"):
        return os.environ["LAKEHOUSE_SQL_PASSWORD"]
    if not sys.stdin.isatty():
        raise fail("no password: use a terminal, --password-stdin or LAKEHOUSE_SQL_PASSWORD", 2)
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


STDIN = typer.Option("--password-stdin", help="Read the password from the first line of stdin")


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option(help="analyst | steward")] = "analyst",
    password_stdin: Annotated[bool, STDIN] = False,
) -> None:
    """Add a user (SCRAM-SHA-256 verifier in LAKEHOUSE_HOME/secrets/sql_users.json, mode 0600)."""
    from warehouse.sqlusers import UserError, add_user

    try:
        add_user(settings().sql_users, name, role, _password(password_stdin))
    except UserError as exc:
        raise fail(str(exc), 2) from None
    console.print(f"added {name} ({role})")


@users_app.command("passwd")
def users_passwd(name: str, password_stdin: Annotated[bool, STDIN] = False) -> None:
    """Set a user's password."""
    from warehouse.sqlusers import UserError, set_password

    try:
        set_password(settings().sql_users, name, _password(password_stdin))
    except UserError as exc:
        raise fail(str(exc), 2) from None
    console.print(f"password of {name} changed")


@users_app.command("remove")
def users_remove(name: str) -> None:
    """Remove a user (open connections end at their next login)."""
    from warehouse.sqlusers import UserError, remove_user

    try:
        remove_user(settings().sql_users, name)
    except UserError as exc:
        raise fail(str(exc), 2) from None
    console.print(f"removed {name}")


@users_app.command("list")
def users_list() -> None:
    """Users and their roles (never their verifiers)."""
    from warehouse.sqlusers import load_users

    table = Table("user", "role", "auth")
    for u in sorted(load_users(settings().sql_users).values(), key=lambda u: u.name):
        table.add_row(u.name, u.role, f"SCRAM-SHA-256 ({u.iterations} iterations)")
    console.print(table)


def register(app: typer.Typer) -> None:
    """One line in orchestration/cli.py wires these in."""
    app.command("serve-sql")(serve_sql)
    app.add_typer(users_app, name="users")


app = typer.Typer(no_args_is_help=True)
register(app)

if __name__ == "__main__":
    settings().prepare()
    app()
