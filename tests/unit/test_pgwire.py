"""The SQL endpoint's pieces without a network: SCRAM, users file, tables touched, text values."""

import datetime as dt

import duckdb
import pytest
from scramp import ScramClient

from warehouse.pgwire import ScramExchange, catalog_shim, pg_syntax, tables_touched, text_value
from warehouse.sqlusers import UserError, add_user, load_users, remove_user, set_password


def test_scram_accepts_the_right_password_and_refuses_a_wrong_one(tmp_path):
    path = tmp_path / "secrets" / "sql_users.json"
    user = add_user(path, "ana", "analyst", "correct horse")
    for password, ok in (("correct horse", True), ("wrong horse", False)):
        client = ScramClient(["SCRAM-SHA-256"], "ana", password)
        server = ScramExchange(*user.auth_info())
        client.set_server_first(server.server_first(client.get_client_first()))
        final = server.server_final(client.get_client_final())
        assert (final is not None) == ok
        if ok:
            client.set_server_final(final)  # the client checks the server knew the verifier too


def test_scram_refuses_a_replayed_nonce_and_channel_binding(tmp_path):
    user = add_user(tmp_path / "u.json", "ana", "analyst", "correct horse")
    client = ScramClient(["SCRAM-SHA-256"], "ana", "correct horse")
    server = ScramExchange(*user.auth_info())
    client.set_server_first(server.server_first(client.get_client_first()))
    final = client.get_client_final()
    other = ScramExchange(*user.auth_info())
    other.server_first(ScramClient(["SCRAM-SHA-256"], "ana", "correct horse").get_client_first())
    assert other.server_final(final) is None
    with pytest.raises(ValueError):
        ScramExchange(*user.auth_info()).server_first("p=tls-server-end-point,,n=,r=abc")


def test_users_file_is_0600_holds_no_password_and_validates(tmp_path):
    path = tmp_path / "secrets" / "sql_users.json"
    add_user(path, "ana", "analyst", "correct horse")
    add_user(path, "stew", "steward", "battery staple")
    assert path.stat().st_mode & 0o777 == 0o600 and "correct horse" not in path.read_text()
    assert {u.role for u in load_users(path).values()} == {"analyst", "steward"}
    before = load_users(path)["ana"].stored_key
    set_password(path, "ana", "another horse")
    assert load_users(path)["ana"].stored_key != before
    for bad in (
        ("Bad Name", "analyst", "long enough"),
        ("bob", "admin", "long enough"),
        ("bob", "analyst", "short"),
    ):
        with pytest.raises(UserError):
            add_user(path, *bad)
    with pytest.raises(UserError):
        add_user(path, "ana", "analyst", "correct horse")
    remove_user(path, "ana")
    assert set(load_users(path)) == {"stew"}


def test_tables_touched_names_schema_tables_not_ctes_or_aliases():
    sql = (
        "with t as (select * from theme.energy_daily) select * from t join silver.enterprise e on t.uscc = e.uscc "
        "where e.uscc in (select uscc from catalog.dataset)"
    )
    assert tables_touched(sql) == ["catalog.dataset", "silver.enterprise", "theme.energy_daily"]
    assert tables_touched("not sql at all (") == []


def test_text_values_follow_postgres_text_format():
    assert text_value(True) == b"t" and text_value(None) is None
    assert text_value(dt.datetime(2026, 1, 2, 3, 4, 5)) == b"2026-01-02 03:04:05"
    assert text_value(b"\x01\xff") == b"\\x01ff"
    assert text_value(1.5) == b"1.5"


def test_psql_describe_lookup_is_answered_from_duckdb_catalog():
    con = duckdb.connect()
    con.execute("create schema theme; create table theme.energy_daily (day date, energy_tce double)")
    lookup = (
        "SELECT c.oid,\n  n.nspname,\n  c.relname\nFROM pg_catalog.pg_class c\n"
        "     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
        "WHERE c.relname OPERATOR(pg_catalog.~) '^(energy_daily)$' COLLATE pg_catalog.default\n"
        "  AND n.nspname OPERATOR(pg_catalog.~) '^(theme)$' COLLATE pg_catalog.default\nORDER BY 2, 3;"
    )
    _, rows = catalog_shim(lookup, con)
    assert [r[1:] for r in rows] == [("theme", "energy_daily")]
    cols, attrs = catalog_shim(
        f"SELECT a.attname,\n  pg_catalog.format_type(a.atttypid, a.atttypmod)\nFROM pg_catalog.pg_attribute a\n"
        f"WHERE a.attrelid = '{rows[0][0]}' AND a.attnum > 0",
        con,
    )
    assert [(a[0], a[1]) for a in attrs] == [("day", "date"), ("energy_tce", "double precision")]
    assert catalog_shim("select 1", con) is None
    assert pg_syntax("x OPERATOR(pg_catalog.~) '^a$' COLLATE pg_catalog.default") == "x ~ '^a$'"


def test_resource_directory_counts_statements_per_dataset_from_the_audit(tmp_path):
    import json

    import polars as pl

    from warehouse.catalog.directory import access_counts
    from warehouse.registry import QUERY_AUDIT
    from warehouse.storage import Lake

    lake = Lake(tmp_path / "lake")
    assert access_counts(lake, dt.datetime.now(dt.UTC)) == {}
    now = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)
    rows = [
        (now, ["theme.energy_daily", "silver.enterprise"]),
        (now, ["theme.energy_daily"]),
        (now - dt.timedelta(days=40), ["theme.energy_daily"]),  # older than 30 days
        (now, []),
        (now, ["mart.energy_city_industry_day"]),  # a mart counts toward its source dataset
        (now, ["mart.energy_city_industry_day", "theme.energy_daily"]),  # ... once per statement
    ]
    frame = pl.DataFrame(
        [
            {
                "day": t.date(),
                "started_at": t,
                "user_name": "ana",
                "session_id": "s",
                "seq": i,
                "tables": json.dumps(x),
            }
            for i, (t, x) in enumerate(rows)
        ]
    )
    frame = frame.with_columns(
        [pl.lit(None, c.dtype).alias(c.name) for c in QUERY_AUDIT.columns if c.name not in frame.columns]
    ).select(QUERY_AUDIT.schema.names())
    lake.append(QUERY_AUDIT, frame, run_id="test")
    assert access_counts(lake, now) == {"theme.energy_daily": 4, "silver.enterprise": 1}


def test_statement_deadlines_fire_in_order_and_never_after_cancel():
    import threading
    import time

    from warehouse.pgwire.deadlines import Deadlines

    d = Deadlines()
    fired: list[str] = []
    done = threading.Event()
    start = time.monotonic()  # the late deadline counts from here, however long the sleep below oversleeps
    d.add(0.3, lambda: (fired.append("late"), done.set()))
    early = d.add(0.05, lambda: fired.append("cancelled first"))
    d.add(0.1, lambda: fired.append("early"))
    middle = d.add(0.2, lambda: fired.append("cancelled later"))
    d.cancel(early)
    time.sleep(0.15)
    d.cancel(middle)
    assert done.wait(5) and time.monotonic() - start >= 0.3
    assert fired == ["early", "late"]
