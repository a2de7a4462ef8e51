"""GUI clients' catalog queries against `lakehouse serve-sql`, replayed with psycopg over loopback.

The statements are those DBeaver's PostgreSQL plugin sends (its connect sequence, the navigator's
schema/table/column loaders in PostgreSchema.java and PostgreDataSource.java, 25.x) and those of the
JDBC driver's DatabaseMetaData.getTables/getColumns (pgjdbc), with their parameters bound as the driver
binds them ($1). Every answer must be the role's own view: what its role file holds, nothing more.
"""

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.e2e.test_sqlserve import PASSWORDS, dsn, server  # noqa: F401  (the module's server fixture)
from warehouse.access import ANALYST, STEWARD, visible_columns
from warehouse.registry import TABLES

pytestmark = pytest.mark.e2e

DBEAVER_CONNECT = [
    "SET extra_float_digits = 3",
    "SET application_name = 'DBeaver 25.1.5 - Main <lakehouse>'",
    "SELECT current_schema(),session_user",
    "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n LEFT OUTER JOIN pg_catalog.pg_description d "
    "ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass ORDER BY nspname",
    "SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM pg_catalog.pg_type t "
    "JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = 1009",
    "SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   "
    "FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           "
    "from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname"
    "                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r"
    "          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = 1009"
    "  ORDER BY sp.r, pg_type.oid DESC",
    "SHOW search_path",
    "SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname='lakehouse'",
    "SELECT * FROM pg_catalog.pg_settings where name='standard_conforming_strings'",
    "SELECT string_agg(word, ',' ) from pg_catalog.pg_get_keywords() "
    "where word <> ALL ('{a,abs,absolute,action,ada,add,admin,after,all}'::text[])",
    "SELECT version()",
    "SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1",
    "SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1",
    "SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, "
    "d.description FROM pg_catalog.pg_type t LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem "
    "LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid LEFT OUTER JOIN pg_catalog.pg_description d "
    "ON t.oid=d.objoid WHERE t.typname IS NOT NULL AND (c.relkind IS NULL OR c.relkind = 'c') "
    "AND (et.typcategory IS NULL OR et.typcategory <> 'C')",
]

TABLES_OF_SCHEMA = (
    "SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  "
    "pg_catalog.pg_get_partkeydef(c.oid) as partition_key \nFROM pg_catalog.pg_class c\n"
    "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 "
    "AND d.classoid='pg_class'::regclass\nWHERE c.relnamespace=%s AND c.relkind not in ('i','I','c')"
)
SIZES_OF_SCHEMA = (
    "select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,"
    "pg_catalog.pg_relation_size(c.oid) as rel_size\nFROM pg_class c\nWHERE c.relnamespace=%s"
)
COLUMNS_OF_TABLE = (
    "SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,"
    "dep.objid\nFROM pg_catalog.pg_attribute a\nINNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)\n"
    "LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)\n"
    "LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)\n"
    "LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' "
    "and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid\n"
    "WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid=%s\nORDER BY a.attnum"
)
INDEXES_OF_TABLE = (
    "SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,"
    "dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,"
    "pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,"
    "pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,"
    "pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans FROM pg_catalog.pg_index i\n"
    "INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid\nINNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid\n"
    "LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid\n"
    "WHERE  i.indrelid=%s ORDER BY tabrelname, c.relname"
)
CONSTRAINTS_OF_TABLE = (
    "SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, "
    "case when c.contype='c' then \"substring\"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy\n"
    "FROM pg_catalog.pg_constraint c\nINNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid\n"
    "LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid\n"
    "LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 "
    "AND d.classoid='pg_constraint'::regclass\nWHERE c.conrelid=%s\nORDER BY c.oid"
)
# pgjdbc DatabaseMetaData.getTables(null, "theme", "%", {"TABLE"}) and getColumns(null, "theme", "%", "%")
JDBC_GET_TABLES = (
    "SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE n.nspname ~ '^pg_' "
    "OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = "
    "'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   "
    "ELSE NULL   END  ELSE NULL  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN "
    "'PARTITIONED TABLE'  WHEN 'v' THEN 'VIEW'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  "
    "END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, "
    "'' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c "
    " LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = "
    "'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND n.nspname LIKE 'theme' AND c.relname LIKE '%%' "
    " AND (false  OR ( c.relkind IN ('r','p') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ) ) "
    " ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME "
)
JDBC_GET_COLUMNS = (
    "SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR (t.typtype = 'd' AND "
    "t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid "
    "ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as "
    "attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,"
    "t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  "
    "JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  "
    "LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  "
    "LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  "
    "LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  "
    "LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  "
    "WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  "
    "AND n.nspname LIKE 'theme') c WHERE true  ORDER BY nspname,c.relname,attnum "
)


def _navigate(con: psycopg.Connection) -> dict[str, dict[str, list[tuple]]]:
    """DBeaver's tree: schemas, then each schema's tables, then each table's columns (name, type)."""
    tree: dict[str, dict[str, list[tuple]]] = {}
    schemas = con.execute(DBEAVER_CONNECT[3]).fetchall()
    for ns_oid, _, nspname, *_ in schemas:
        con.execute(SIZES_OF_SCHEMA, [ns_oid]).fetchall()
        tree[nspname] = {}
        for row in con.execute(TABLES_OF_SCHEMA, [ns_oid]).fetchall():
            oid, relname, description = row[0], row[2], row[-3]
            assert con.execute(INDEXES_OF_TABLE, [oid]).fetchall() == []
            assert con.execute(CONSTRAINTS_OF_TABLE, [oid]).fetchall() == []
            cur = con.execute(COLUMNS_OF_TABLE, [oid])
            names = [d.name for d in cur.description]
            cols = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            types = dict(
                con.execute(
                    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
                    "WHERE a.attrelid = %s",
                    [oid],
                ).fetchall()
            )
            tree[nspname][relname] = [(c["attname"], types[c["attname"]], c["attnotnull"]) for c in cols]
            tree[nspname][relname + "#description"] = description
    return tree


def _columns_of(tree: dict[str, dict[str, list[tuple]]]) -> set[tuple[str, str]]:
    """(schema.table, column) of every column a navigator tree shows."""
    return {
        (f"{s}.{t}", c[0])
        for s, tables in tree.items()
        for t, cs in tables.items()
        if "#" not in t
        for c in cs
    }


def test_dbeaver_connects_and_its_navigator_shows_each_role_exactly_its_tables_and_columns(server):  # noqa: F811
    _, port, _ = server
    trees = {}
    for user in ("ana", "stew"):
        with psycopg.connect(dsn(port, user), autocommit=True) as con:
            for sql in DBEAVER_CONNECT:
                con.execute(sql)  # none fails
            assert con.execute(DBEAVER_CONNECT[2]).fetchone()[1] == user
            assert con.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL ")
            trees[user] = _navigate(con)
    for user, role in (("ana", ANALYST), ("stew", STEWARD)):
        tree = trees[user]
        assert {"theme", "silver", "mart"} <= set(tree) and "main" not in tree  # no serving bookkeeping
        served = [n for n in TABLES if n.split(".")[1] in tree.get(n.split(".")[0], {})]
        assert len(served) >= 10
        for name in served:
            schema, table = name.split(".")
            cols = tree[schema][table]
            assert [c[0] for c in cols] == [c.name for c in visible_columns(TABLES[name], role)], (user, name)
            assert tree[schema][table + "#description"] == TABLES[name].description
        energy = dict((c[0], c[1]) for c in tree["theme"]["energy_daily"])
        assert energy["day"] == "date" and energy["energy_tce"] == "double precision"
        assert "energy_city_industry_day" in tree["mart"]
    grade3 = [(n, c.name) for n in TABLES for c in TABLES[n].columns if c.grade == 3]
    stew_cols, ana_cols = (_columns_of(trees[user]) for user in ("stew", "ana"))
    shown3 = [g for g in grade3 if g in stew_cols]
    assert shown3, "no grade-3 column in the steward's tree: the test would prove nothing"
    assert not any(g in ana_cols for g in grade3)


def test_jdbc_metadata_and_regclass_casts_answer_from_the_role_file(server):  # noqa: F811
    _, port, _ = server
    with psycopg.connect(dsn(port, "ana"), autocommit=True) as con:
        tables = con.execute(JDBC_GET_TABLES).fetchall()
        expected = sorted(n.split(".")[1] for n in TABLES if n.startswith("theme."))
        assert [t[2] for t in tables if t[1] == "theme"] == [
            n for n in expected if n in {t[2] for t in tables}
        ]
        assert {t[3] for t in tables} == {"TABLE"} and "energy_daily" in {t[2] for t in tables}
        columns = con.execute(JDBC_GET_COLUMNS).fetchall()
        energy = [c[2] for c in columns if c[1] == "energy_daily"]
        assert energy == [c.name for c in visible_columns(TABLES["theme.energy_daily"], ANALYST)]
        oid = con.execute("SELECT 'theme.energy_daily'::regclass").fetchone()[0]
        assert con.execute("SELECT %s::oid::regclass", [oid]).fetchone() is not None
        assert con.execute(
            "SELECT c.oid::regclass, obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c WHERE c.oid = %s",
            [oid],
        ).fetchone() == ("theme.energy_daily", TABLES["theme.energy_daily"].description)
        literal = "select 'pg_catalog.pg_class'::text as t, 'SELECT version()' as v"
        assert con.execute(literal).fetchone() == ("pg_catalog.pg_class", "SELECT version()")
    with psycopg.connect(dsn(port, "stew"), autocommit=True) as other:  # oids hold across sessions
        assert other.execute("SELECT 'theme.energy_daily'::regclass").fetchone()[0] == oid


JDBC_JAR = Path("/usr/share/java/postgresql.jar")  # Debian's libpostgresql-jdbc-java (pgjdbc)


def test_the_jdbc_driver_lists_each_roles_schemas_tables_and_columns(server, tmp_path):  # noqa: F811
    """pgjdbc itself (Java, as DBeaver and other JDBC tools load it): DatabaseMetaData over the wire."""
    javac, java = shutil.which("javac"), shutil.which("java")
    assert javac and java and JDBC_JAR.is_file(), "`make jdbc` installs a JDK and Debian's pgjdbc"
    source = Path(__file__).parent / "jdbc" / "Navigator.java"
    subprocess.run([javac, "-d", str(tmp_path), str(source)], check=True, capture_output=True, timeout=300)
    _, port, _ = server
    seen = {}
    for user, role in (("ana", ANALYST), ("stew", STEWARD)):
        out = subprocess.run(
            [
                java,
                "-cp",
                f"{tmp_path}:{JDBC_JAR}",
                "Navigator",
                f"jdbc:postgresql://127.0.0.1:{port}/lakehouse",
            ]
            + [user, PASSWORDS[user]],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        lines = [line.split("\t") for line in out.stdout.splitlines()]
        tables = {f[1]: f[2] for f in lines if f[0] == "table"}
        columns: dict[str, list[str]] = {}
        for f in lines:
            if f[0] == "column":
                columns.setdefault(f[1], []).append(f[2])
        assert {"theme", "silver", "mart"} <= {f[1] for f in lines if f[0] == "schema"}
        counted = [int(f[1]) for f in lines if f[0] == "rows"]  # and an ordinary query through the driver
        assert len(counted) == 1 and counted[0] > 0
        served = [n for n in TABLES if n in tables]
        assert len(served) >= 10 and "mart.energy_city_industry_day" in tables
        for name in served:
            assert tables[name] == TABLES[name].description
            assert columns[name] == [c.name for c in visible_columns(TABLES[name], role)], (user, name)
        seen[user] = {(t, c) for t, cs in columns.items() for c in cs}
    grade3 = {(n, c.name) for n in TABLES for c in TABLES[n].columns if c.grade == 3}
    assert grade3 & seen["stew"] and not grade3 & seen["ana"]
