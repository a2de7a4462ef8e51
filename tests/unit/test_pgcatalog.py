"""pg_catalog for GUI clients without a network: the rewrite and the catalog a session builds."""

import duckdb
import pytest

from warehouse.pgwire.pgcatalog import SCHEMA, install
from warehouse.pgwire.pgrewrite import rewrite


@pytest.fixture
def session(tmp_path):
    """A sealed session on a small role file (what warehouse.serving.session.connect opens for a connection)."""
    from warehouse.serving.session import connect

    path = tmp_path / "role.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE SCHEMA theme; CREATE TABLE theme.energy_daily (day DATE NOT NULL, uscc VARCHAR, "
        "energy_tce DOUBLE, price DECIMAL(18,3), tags VARCHAR[]); COMMENT ON TABLE theme.energy_daily IS 'Energy';"
        "CREATE TABLE main.lakehouse_serving (key VARCHAR, value VARCHAR)"
    )
    con.close()
    con = connect(path)
    install(con, "ana", "lakehouse")
    yield con
    con.close()


def test_ordinary_queries_and_string_literals_are_left_alone():
    assert rewrite("select sum(energy_tce) from theme.energy_daily", "ana") is None
    assert rewrite("select 'pg_catalog.pg_class', \"pg_class\" from t", "ana") is None
    out = rewrite("select 'pg_catalog.pg_class'::text, c.relname from pg_catalog.pg_class c", "ana")
    assert out == f"select 'pg_catalog.pg_class'::text, c.relname from {SCHEMA}.pg_class c"
    out = rewrite("select pg_class, x from pg_namespace n, (select 1) s, pg_class c where c.oid = 1", "ana")
    assert out == (
        f"select pg_class, x from {SCHEMA}.pg_namespace n, (select 1) s, {SCHEMA}.pg_class c where c.oid = 1"
    )  # a FROM list's names, not a select list's


def test_regclass_regproc_and_array_literals_become_duckdb_sql():
    out = rewrite(
        "select 1 from pg_catalog.pg_description d where d.classoid='pg_namespace'::regclass", "ana"
    )
    assert out.endswith("d.classoid=2615")
    assert rewrite("select typinput='pg_catalog.array_in'::regproc", "ana") == "select typinput='array_in'"
    assert rewrite("select c.oid::regclass from pg_class c", "ana").startswith(
        "select pgcat_regclass_name(c.oid)"
    )
    assert "pgcat_regclass_name($1::oid)" in rewrite("select $1::oid::regclass", "ana")
    assert "['a', 'abs']" in rewrite("select 'x' <> ALL ('{a,abs}'::text[]) from pg_catalog.pg_type", "ana")
    assert rewrite("SHOW search_path", "ana") == "SELECT 'main' AS search_path"
    assert rewrite("SHOW tables", "ana") is None  # DuckDB's own SHOW


def test_the_catalog_holds_the_role_files_tables_with_postgresql_types(session):
    con = session

    def q(sql, params=None):
        return con.execute(rewrite(sql, "ana") or sql, params).fetchall()

    assert [r[0] for r in q("select nspname from pg_catalog.pg_namespace order by 1")] == [
        "information_schema",
        "pg_catalog",
        "theme",
    ]  # the serving bookkeeping (schema main) is not shown
    (oid,) = q("select 'theme.energy_daily'::regclass")[0]
    cols = q(
        "select a.attname, a.atttypid, format_type(a.atttypid, a.atttypmod), a.attnotnull "
        "from pg_catalog.pg_attribute a where a.attrelid = $1 order by a.attnum",
        [oid],
    )
    assert cols == [
        ("day", 1082, "date", True),
        ("uscc", 25, "text", False),
        ("energy_tce", 701, "double precision", False),
        ("price", 1700, "numeric(18,3)", False),
        ("tags", 1009, "text[]", False),
    ]
    assert q(
        "select obj_description($1, 'pg_class'), c.oid::regclass from pg_class c where c.oid = $1", [oid]
    ) == [("Energy", "theme.energy_daily")]
    assert q("select count(*) from pg_catalog.pg_index i where i.indrelid = $1", [oid]) == [(0,)]
