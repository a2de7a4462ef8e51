"""`lakehouse serve-sql` as analysts meet it: psql and psycopg as separate processes over loopback.

One small home and one server per module (`generate --enterprises 6 --days 2` + `materialize`), with
tight limits so timeouts, caps and audit flushes show in seconds. The last test stops it with SIGTERM.
"""

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import psycopg
import pytest

pytestmark = pytest.mark.e2e

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
PSQL = shutil.which("psql")
PASSWORDS = {"ana": "analyst-pass-1", "ana2": "analyst-pass-2", "stew": "steward-pass-1"}
TIMEOUT_S = 12


def env_for(home: Path) -> dict[str, str]:
    env = os.environ | {
        "LAKEHOUSE_HOME": str(home),
        "GX_ANALYTICS_ENABLED": "false",
        "LAKEHOUSE_SQL_STATEMENT_TIMEOUT_S": str(TIMEOUT_S),
        "LAKEHOUSE_SQL_MAX_ROWS": "1000",
        "LAKEHOUSE_SQL_MAX_CONNECTIONS_PER_USER": "3",
        "LAKEHOUSE_SQL_AUDIT_FLUSH_S": "0.5",
    }
    for key in ("LAKEHOUSE_WAREHOUSE_DB", "DAGSTER_HOME", "LAKEHOUSE_SQL_PASSWORD"):
        env.pop(key, None)
    cert, key = home / "secrets" / "tls.crt", home / "secrets" / "tls.key"
    if cert.exists():  # the module's server offers TLS (clients' default sslmode=prefer takes it)
        env |= {"LAKEHOUSE_SQL_TLS_CERT": str(cert), "LAKEHOUSE_SQL_TLS_KEY": str(key)}
    return env


def run(home: Path, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [LAKEHOUSE, *args], env=env_for(home), input=stdin, capture_output=True, text=True, timeout=1800
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"lakehouse {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(province_copy):
    home = province_copy  # the session's built province (tests/e2e/conftest.py)
    run(home, "users", "add", "ana", "--password-stdin", stdin=PASSWORDS["ana"] + "\n")
    run(home, "users", "add", "ana2", "--password-stdin", stdin=PASSWORDS["ana2"] + "\n")
    run(home, "users", "add", "stew", "--role", "steward", "--password-stdin", stdin=PASSWORDS["stew"] + "\n")
    subprocess.run(  # a self-signed certificate (Debian's openssl), as a province would put its own
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-keyout", str(home / "secrets" / "tls.key"), "-out", str(home / "secrets" / "tls.crt")],
        check=True,
        capture_output=True,
    )
    port, proc = start_server(home)
    yield home, port, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def start_server(home: Path, **env: str) -> tuple[int, subprocess.Popen]:
    """`lakehouse serve-sql` as its own process on a free port, once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen(
        [LAKEHOUSE, "serve-sql", "--port", str(port)],
        env=env_for(home) | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.3)
    return port, proc


def dsn(port: int, user: str, password: str | None = None) -> str:
    return f"host=127.0.0.1 port={port} dbname=lakehouse user={user} password={password or PASSWORDS[user]}"


def psql(
    port: int, user: str, *commands: str, password: str | None = None, sslmode: str = "prefer"
) -> subprocess.CompletedProcess:
    assert PSQL, "psql missing: `make psql` installs Debian's postgresql-client (make test does)"
    env = os.environ | {
        "PGPASSWORD": password or PASSWORDS[user],
        "PGCONNECT_TIMEOUT": "20",
        "PGSSLMODE": sslmode,
    }
    args = [PSQL, "-h", "127.0.0.1", "-p", str(port), "-U", user, "-X", "-v", "ON_ERROR_STOP=1", "lakehouse"]
    for c in commands:
        args += ["-c", c]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


def audit(home: Path) -> pl.DataFrame:
    return pl.read_delta(str(home / "lake" / "catalog" / "query_audit"))


def sha(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


def test_users_file_is_private_and_holds_no_password(server):
    home, _, _ = server
    path = home / "secrets" / "sql_users.json"
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert all(p not in text for p in PASSWORDS.values())
    assert json.loads(text)["users"]["stew"]["role"] == "steward"
    listed = run(home, "users", "list").stdout
    assert "ana" in listed and "steward" in listed and "stored_key" not in listed
    bad = run(
        home, "users", "add", "x", "--role", "admin", "--password-stdin", stdin="long-enough\n", check=False
    )
    assert bad.returncode == 2 and "unknown role" in bad.stderr and "Traceback" not in bad.stderr


def test_login_with_the_right_password_and_refused_with_a_wrong_one(server):
    _, port, _ = server
    ok = psql(port, "ana", "select 1 as one")
    assert ok.returncode == 0 and "1 row" in ok.stdout, ok.stderr
    bad = psql(port, "ana", "select 1", password="wrong-password")
    assert bad.returncode != 0 and 'password authentication failed for user "ana"' in bad.stderr
    nobody = psql(port, "nobody", "select 1", password="whatever-1")
    assert nobody.returncode != 0 and "password authentication failed" in nobody.stderr
    with psycopg.connect(dsn(port, "ana")) as con:
        assert con.execute("select %s::int + 1", [41]).fetchone() == (42,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn(port, "ana", "wrong-password"))


def test_tls_is_offered_and_plain_connections_still_work(server):
    _, port, _ = server
    with psycopg.connect(dsn(port, "ana") + " sslmode=require") as con:
        assert con.pgconn.ssl_in_use
        assert con.execute("select 3").fetchone() == (3,)
    with psycopg.connect(dsn(port, "ana") + " sslmode=disable") as con:
        assert not con.pgconn.ssl_in_use and con.execute("select 4").fetchone() == (4,)
    out = psql(port, "ana", r"\conninfo", "select 5 as five", sslmode="require")
    assert out.returncode == 0 and "SSL connection (protocol: TLSv1." in out.stdout, out.stderr


def test_users_passwd_and_remove_take_effect_at_the_next_login(server):
    home, port, _ = server
    run(home, "users", "add", "temp", "--password-stdin", stdin="first-password\n")
    with psycopg.connect(dsn(port, "temp", "first-password")) as con:
        assert con.execute("select 1").fetchone() == (1,)
    run(home, "users", "passwd", "temp", "--password-stdin", stdin="second-password\n")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn(port, "temp", "first-password"))
    out = psql(port, "temp", "select 1", password="second-password")
    assert out.returncode == 0, out.stderr
    run(home, "users", "remove", "temp")
    assert "temp" not in run(home, "users", "list").stdout
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "temp"'):
        psycopg.connect(dsn(port, "temp", "second-password"))


def test_analyst_sees_no_grade_3_column_no_clear_personal_data_and_no_file(server):
    home, port, _ = server
    with psycopg.connect(dsn(port, "ana"), autocommit=True) as con:
        with pytest.raises(psycopg.errors.UndefinedColumn):
            con.execute("select legal_representative_id from silver.enterprise")
        names, phones = zip(
            *con.execute("select legal_representative, phone from silver.enterprise").fetchall(), strict=True
        )
        assert names and all("*" in n for n in names if n) and all("****" in p for p in phones if p)
        steward_db = home / "warehouse_steward.duckdb"
        lake_file = next((home / "lake" / "silver" / "enterprise").rglob("*.parquet"))
        for query in (
            "select * from read_csv('/etc/passwd')",
            "select * from read_csv('/etc/passwd') -- as if a pg_catalog.pg_class probe",
            f"select * from read_parquet('{lake_file}')",
            "select * from read_text('/etc/hostname')",
            "select * from glob('/etc/*')",
            "copy silver.enterprise to '/tmp/i15-leak.csv'",
            f"attach '{steward_db}' as st (read_only)",
            "install httpfs",
            "load httpfs",
        ):
            with pytest.raises(psycopg.Error, match="Permission|disabled") as refused:
                con.execute(query)
            assert refused.value.sqlstate == "42501", (query, refused.value)
        assert not Path("/tmp/i15-leak.csv").exists()
        with pytest.raises(psycopg.Error, match="locked"):
            con.execute("set enable_external_access = true")


def test_steward_sees_every_grade_with_personal_data_masked(server):
    _, port, _ = server
    out = psql(
        port, "stew", "set extra_float_digits = 3", "select legal_representative_id from silver.enterprise"
    )
    assert out.returncode == 0, out.stderr
    values = [line.strip() for line in out.stdout.splitlines()[2:] if "********" in line]
    assert len(values) >= 6  # one per enterprise, masked


def test_each_role_sees_exactly_its_grades_of_every_registry_table(server):
    """Over the wire, table by table: the steward gets every column, the analyst those of grade <= 2."""
    from warehouse.access import ANALYST, STEWARD, visible_columns
    from warehouse.registry import TABLES

    _, port, _ = server
    listing = (
        "select table_schema || '.' || table_name, column_name from information_schema.columns "
        "order by table_schema, table_name, ordinal_position"
    )
    seen: dict[str, dict[str, list[str]]] = {}
    for user, role in (("stew", STEWARD), ("ana", ANALYST)):
        with psycopg.connect(dsn(port, user), autocommit=True) as con:
            for table, column in con.execute(listing).fetchall():
                seen.setdefault(role.name, {}).setdefault(table, []).append(column)
    steward, analyst = seen["steward"], seen["analyst"]
    served = [name for name in TABLES if name in steward]
    assert len(served) >= 10
    grade3 = [(n, c.name) for n in served for c in TABLES[n].columns if c.grade == 3]
    assert grade3, "no grade-3 column served: the test would prove nothing"
    for name in served:
        assert steward[name] == [c.name for c in visible_columns(TABLES[name], STEWARD)], name
        assert steward[name] == [c.name for c in TABLES[name].columns], name
        expected = [c.name for c in visible_columns(TABLES[name], ANALYST)]
        assert analyst.get(name, []) == expected, name
    assert not any(col in analyst.get(name, []) for name, col in grade3)
    assert all(n in steward for n in analyst if n in TABLES)


def test_psql_lists_and_describes_tables(server):
    _, port, _ = server
    out = psql(port, "ana", r"\dt", r"\d theme.energy_daily")
    assert out.returncode == 0, out.stderr
    assert "theme      | energy_daily" in out.stdout and "mart       | energy_city_industry_day" in out.stdout
    assert 'Table "theme.energy_daily"' in out.stdout
    assert " energy_tce " in out.stdout and "double precision" in out.stdout


def test_statement_timeout_cancels_only_the_runaway_query(server):
    _, port, _ = server
    outcome = {}

    def runaway() -> None:
        with psycopg.connect(dsn(port, "ana")) as con:
            t0 = time.monotonic()
            try:
                con.execute("select sum(r.range % 7) from range(1000000000000) r").fetchall()
            except psycopg.Error as exc:
                outcome["error"] = (exc.sqlstate, str(exc), time.monotonic() - t0)

    t = threading.Thread(target=runaway)
    t.start()
    time.sleep(1)
    with psycopg.connect(dsn(port, "ana2")) as other:
        rows = other.execute(
            "select city_code, sum(energy_tce) from theme.energy_daily group by 1"
        ).fetchall()
        assert rows
        assert t.is_alive() and "error" not in outcome  # answered while the runaway was still running
    t.join(timeout=120)
    sqlstate, message, took = outcome["error"]
    assert sqlstate == "57014" and "statement timeout" in message
    assert TIMEOUT_S <= took < TIMEOUT_S + 30
    with psycopg.connect(dsn(port, "ana")) as con:  # the session that timed out is usable
        assert con.execute("select 1").fetchone() == (1,)


def test_cancel_request_from_the_client_stops_its_query(server):
    _, port, _ = server
    with psycopg.connect(dsn(port, "ana"), autocommit=True) as con:
        threading.Timer(0.5, con.cancel).start()
        with pytest.raises(psycopg.errors.QueryCanceled, match="user request"):
            con.execute("select sum(r.range % 7) from range(1000000000000) r")
        assert con.execute("select 2").fetchone() == (2,)


def test_row_cap_and_connection_caps(server):
    _, port, _ = server
    with psycopg.connect(dsn(port, "ana")) as con:
        assert len(con.execute("select * from range(1000)").fetchall()) == 1000
        with pytest.raises(psycopg.Error, match="row cap of 1,000"):
            con.execute("select * from range(1001)")
    held = [psycopg.connect(dsn(port, "ana")) for _ in range(3)]
    try:
        with pytest.raises(psycopg.OperationalError, match='too many connections for user "ana"'):
            psycopg.connect(dsn(port, "ana"))
        with psycopg.connect(dsn(port, "ana2")) as other:  # another user still gets in
            assert other.execute("select 1").fetchone() == (1,)
    finally:
        for c in held:
            c.close()


def test_total_connection_cap_holds_across_users(server):
    home, _, _ = server
    port, proc = start_server(home, LAKEHOUSE_SQL_MAX_CONNECTIONS="2")
    try:
        full = pytest.raises(psycopg.OperationalError, match=r"too many connections \(server limit 2\)")
        with psycopg.connect(dsn(port, "ana")), psycopg.connect(dsn(port, "ana2")), full:
            psycopg.connect(dsn(port, "stew"))
        with psycopg.connect(dsn(port, "stew")) as con:  # a slot freed is a slot taken
            assert con.execute("select 1").fetchone() == (1,)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def _changed_copy(db: Path, keep_days: int) -> Path:
    """What a refresh builds beside the live file: a copy with fewer days of theme.energy_daily."""
    tmp = db.with_name(db.name + ".test.building")
    shutil.copyfile(db, tmp)
    con = duckdb.connect(str(tmp))
    con.execute(
        "DELETE FROM theme.energy_daily WHERE day NOT IN "
        f"(SELECT DISTINCT day FROM theme.energy_daily ORDER BY day LIMIT {keep_days})"
    )
    con.execute("CHECKPOINT")
    con.close()
    return tmp


def test_a_refresh_during_a_query_neither_breaks_it_nor_mixes_versions(server):
    from warehouse.serving.refresh import _publish

    home, port, _ = server
    count = "select count(*) from theme.energy_daily"
    with psycopg.connect(dsn(port, "ana"), autocommit=True) as con:
        before, days = con.execute("select count(*), count(distinct day) from theme.energy_daily").fetchone()
        slow = (
            "select count(*) as n, count(distinct e.day) as days from theme.energy_daily e, range({n}) r "
            "where r.range >= 0"
        )
        n, took = 500_000, 0.0  # calibrate: the query should run about 4 s, well inside the timeout
        while took < 1.0:
            n *= 2
            t0 = time.monotonic()
            con.execute(slow.format(n=n)).fetchone()
            took = time.monotonic() - t0
        n = int(n * 4.0 / took)
        slow = slow.format(n=n)
        result = {}

        def query() -> None:
            with psycopg.connect(dsn(port, "ana"), autocommit=True) as c2:
                connected.set()
                result["rows"] = c2.execute(slow).fetchone()
                result["after"] = c2.execute(count).fetchone()[0]

        new_file = _changed_copy(home / "warehouse.duckdb", keep_days=1)
        connected = threading.Event()
        t = threading.Thread(target=query)
        t.start()
        assert connected.wait(60)
        time.sleep(0.5)
        _publish(new_file, home / "warehouse.duckdb")  # the refresh's rename over the live file
        still_running = "rows" not in result
        t.join(timeout=120)
        assert still_running, "query finished before the refresh; make it slower"
        assert result["rows"] == (before * n, days)  # the whole old snapshot, nothing of the new one
        assert days > 1 and 0 < result["after"] < before  # the next statement sees the new file
        assert con.execute(count).fetchone()[0] == result["after"]


def test_a_transaction_keeps_one_snapshot_across_a_refresh(server):
    from warehouse.serving.refresh import _publish

    home, port, _ = server
    live = home / "warehouse.duckdb"
    count = "select count(*) from theme.energy_daily"
    with psycopg.connect(dsn(port, "ana")) as con:  # psycopg opens a transaction (BEGIN) on first use
        before = con.execute(count).fetchone()[0]
        assert before >= 2
        tmp = live.with_name(live.name + ".test.building")
        shutil.copyfile(live, tmp)
        with duckdb.connect(str(tmp)) as build:
            build.execute("DELETE FROM theme.energy_daily WHERE rowid % 2 = 0")
            build.execute("CHECKPOINT")
            after = build.execute(count).fetchone()[0]
        assert 0 < after < before
        _publish(tmp, live)
        assert con.execute(count).fetchone()[0] == before  # same transaction: the file it began on
        con.commit()
        assert con.execute(count).fetchone()[0] == after  # next transaction: the refreshed file


def test_every_query_lands_in_the_audit_without_values(server):
    home, port, _ = server
    marker = (
        "select city_code, count(*) as n from theme.energy_daily where day is not null group by 1 -- audit"
    )
    with psycopg.connect(dsn(port, "ana2"), autocommit=True) as con:
        con.execute(marker).fetchall()
        with contextlib.suppress(psycopg.Error):
            con.execute("select nope from silver.enterprise")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        a = audit(home) if (home / "lake" / "catalog" / "query_audit").exists() else None
        if a is not None and a.filter(pl.col("user_name") == "ana2", pl.col("status") == "error").height:
            break
        time.sleep(0.5)
    row = a.filter(pl.col("sql_sha256") == sha(marker)).row(0, named=True)
    assert row["user_name"] == "ana2" and row["role"] == "analyst" and row["status"] == "ok"
    assert row["rows"] >= 1 and row["duration_ms"] > 0 and json.loads(row["tables"]) == ["theme.energy_daily"]
    assert a.filter(pl.col("status") == "timeout").height >= 1
    assert {"ana", "ana2", "stew"} <= set(a["user_name"])
    err = a.filter(pl.col("user_name") == "ana2", pl.col("status") == "error").row(0, named=True)
    assert err["sqlstate"] == "42703"
    refused = a.filter(pl.col("user_name") == "ana", pl.col("sqlstate") == "42501")
    assert refused.height >= 9 and set(refused["status"]) == {"error"}  # the analyst's file reads
    from warehouse.registry import QUERY_AUDIT

    assert a.columns == [c.name for c in QUERY_AUDIT.columns]  # who, what, how long: never values
    assert "****" not in a.write_csv()


def _audited(home: Path, hashes: set[str], timeout_s: float = 30) -> pl.DataFrame:
    """The audit once every statement with one of these SQL hashes is committed."""
    deadline = time.monotonic() + timeout_s
    while True:
        committed = (home / "lake" / "catalog" / "query_audit" / "_delta_log").is_dir()
        a = audit(home) if committed else None
        if (a is not None and hashes <= set(a["sql_sha256"])) or time.monotonic() > deadline:
            return audit(home)
        time.sleep(0.5)


def test_each_statement_from_psql_and_psycopg_is_one_audit_row_and_counted_in_the_directory(server):
    home, port, _ = server
    t0 = dt.datetime.now(dt.UTC)
    by_psql = [f"select count(*) from silver.enterprise where {i} = {i}" for i in range(3)]
    by_psycopg = [f"select count(*) from theme.energy_daily where {i} = {i}" for i in range(4)]
    by_psycopg.append("select count(*) from mart.energy_city_industry_day")  # counts toward its source
    out = psql(port, "stew", *by_psql)
    assert out.returncode == 0, out.stderr
    with psycopg.connect(dsn(port, "ana"), autocommit=True) as con:
        for q in by_psycopg:
            con.execute(q).fetchall()
    a = _audited(home, {sha(q) for q in by_psql + by_psycopg})
    for q, user, role in [
        *((q, "stew", "steward") for q in by_psql),
        *((q, "ana", "analyst") for q in by_psycopg),
    ]:
        rows = a.filter(pl.col("sql_sha256") == sha(q))
        assert rows.height == 1, (q, rows)  # exactly one row per statement
        r = rows.row(0, named=True)
        assert (r["user_name"], r["role"], r["status"], r["rows"]) == (user, role, "ok", 1)
        assert (
            t0 - dt.timedelta(seconds=5) <= r["started_at"].replace(tzinfo=dt.UTC) <= dt.datetime.now(dt.UTC)
        )
        assert r["duration_ms"] > 0 and r["day"] == r["started_at"].date()

    # the resource directory counts the statements that read each dataset (or a mart of it), as of now
    def reading(*names: str) -> int:
        return a.filter(
            pl.any_horizontal(pl.col("tables").str.contains(f'"{n}"', literal=True) for n in names)
        ).height

    expected = {
        "theme.energy_daily": reading("theme.energy_daily", "mart.energy_city_industry_day"),
        "silver.enterprise": reading("silver.enterprise"),
    }
    listed = json.loads(run(home, "catalog", "list", "--format", "json").stdout)
    counts = {d["table_name"]: d["queries_30d"] for d in listed}
    assert counts["theme.energy_daily"] == expected["theme.energy_daily"] >= 5
    assert counts["silver.enterprise"] == expected["silver.enterprise"] >= 3
    assert counts["silver.telemetry"] == reading("silver.telemetry")
    assert "mart.energy_city_industry_day" not in counts  # the directory lists registry datasets


def test_server_up_starts_the_endpoint_and_down_stops_it(server):
    """`make server-up` (`lakehouse server up`) starts serve-sql beside the other processes."""
    home, _, _ = server
    port = free_port()
    out = run(home, "server", "up", "--only", "sql", "--sql-port", str(port)).stdout
    assert f"postgresql://127.0.0.1:{port}/lakehouse" in out
    pid = int((home / "run" / "sql.pid").read_text())
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(dsn(port, "ana2"), connect_timeout=5) as con:
                    assert con.execute("select 'via server up'").fetchone() == ("via server up",)
                break
            except psycopg.OperationalError:
                assert time.monotonic() < deadline, (home / "run" / "sql.log").read_text()[-2000:]
                time.sleep(0.5)
        assert "already running" in run(home, "server", "up", "--only", "sql", "--sql-port", str(port)).stdout
    finally:
        down = run(home, "server", "down")
    assert f"sql: stopped (pid {pid})" in down.stdout
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    )
    assert audit(home).filter(pl.col("sql_sha256") == sha("select 'via server up'")).height == 1


def test_sigterm_stops_cleanly_with_the_audit_flushed_and_no_secret_logged(server):
    home, port, proc = server
    with psycopg.connect(dsn(port, "stew")) as con:
        con.execute("select 'last statement' as x").fetchall()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert audit(home).filter(pl.col("sql_sha256") == sha("select 'last statement' as x")).height == 1
    log = (home / "logs" / "sqlserve.log").read_text()
    assert "stopped" in log and "login user=stew role=steward" in log
    assert all(p not in log for p in PASSWORDS.values()) and "select" not in log.lower()
