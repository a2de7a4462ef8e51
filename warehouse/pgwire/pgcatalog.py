"""A PostgreSQL-shaped pg_catalog for GUI clients (DBeaver, pgAdmin, JDBC's DatabaseMetaData), per session.

DuckDB emulates part of pg_catalog, but with its own type OIDs (its `format_type(23, -1)` says float8),
oids that change at every open, no `regclass`/`regproc` types, no `pg_get_partkeydef`, `pg_index`,
`pg_constraint`, `pg_depend`, ... so DBeaver's navigator query (`d.classoid='pg_namespace'::regclass`)
fails and its tree shows no schema. Here the first catalog query of a session builds PostgreSQL's
catalog tables (the columns clients read, PostgreSQL's type OIDs, oids stable across sessions and
refreshes) in the session's own in-memory database, from the session's role file only: a role's file
holds only the tables and columns its grade allows, so the catalog cannot show anything else. The
serving bookkeeping tables (schema `main`) are left out.

`warehouse.pgwire.pgrewrite` points a statement's pg_catalog relations and functions at these tables
and macros.
"""

from __future__ import annotations

import duckdb

from warehouse.pgwire.wire import SERVER_VERSION

SCHEMA = "memory.pgcat"  # the session's in-memory database (the role file is attached read-only beside it)

# PostgreSQL's own OIDs of the catalogs clients name in `'pg_class'::regclass`
SYSTEM_RELATIONS = {
    "pg_type": 1247,
    "pg_attribute": 1249,
    "pg_proc": 1255,
    "pg_class": 1259,
    "pg_authid": 1260,
    "pg_database": 1262,
    "pg_namespace": 2615,
    "pg_constraint": 2606,
    "pg_description": 2609,
    "pg_index": 2610,
    "pg_trigger": 2620,
    "pg_rewrite": 2618,
    "pg_extension": 3079,
}

# (oid, name, SQL name for format_type, length, category, array oid) of the types a column can have here
TYPES = (
    (16, "bool", "boolean", 1, "B", 1000),
    (17, "bytea", "bytea", -1, "U", 1001),
    (20, "int8", "bigint", 8, "N", 1016),
    (21, "int2", "smallint", 2, "N", 1005),
    (23, "int4", "integer", 4, "N", 1007),
    (25, "text", "text", -1, "S", 1009),
    (26, "oid", "oid", 4, "N", 1028),
    (700, "float4", "real", 4, "N", 1021),
    (701, "float8", "double precision", 8, "N", 1022),
    (1043, "varchar", "character varying", -1, "S", 1015),
    (1082, "date", "date", 4, "D", 1182),
    (1083, "time", "time without time zone", 8, "D", 1183),
    (1114, "timestamp", "timestamp without time zone", 8, "D", 1115),
    (1184, "timestamptz", "timestamp with time zone", 8, "D", 1185),
    (1186, "interval", "interval", 16, "T", 1187),
    (1700, "numeric", "numeric", -1, "N", 1231),
    (2950, "uuid", "uuid", 16, "U", 2951),
)

# Catalogs a lake table has nothing in (no indexes, constraints, defaults, triggers, functions, ...):
# empty, with PostgreSQL 15's columns (the ones clients read), so their joins and filters bind.
# Each column is name:type, o oid (BIGINT), i INTEGER, b BOOLEAN, s VARCHAR, r REAL, O/S/I arrays of those.
EMPTY: dict[str, str] = {
    "pg_attrdef": "oid:o adrelid:o adnum:i adbin:s",
    "pg_index": (
        "indexrelid:o indrelid:o indnatts:i indnkeyatts:i indisunique:b indnullsnotdistinct:b "
        "indisprimary:b indisexclusion:b indimmediate:b indisclustered:b indisvalid:b indcheckxmin:b "
        "indisready:b indislive:b indisreplident:b indkey:I indcollation:O indclass:O indoption:I "
        "indexprs:s indpred:s"
    ),
    "pg_constraint": (
        "oid:o conname:s connamespace:o contype:s condeferrable:b condeferred:b convalidated:b conrelid:o "
        "contypid:o conindid:o conparentid:o confrelid:o confupdtype:s confdeltype:s confmatchtype:s "
        "conislocal:b coninhcount:i connoinherit:b conkey:I confkey:I conpfeqop:O conppeqop:O conffeqop:O "
        "confdelsetcols:I conexclop:O conbin:s"
    ),
    "pg_inherits": "inhrelid:o inhparent:o inhseqno:i inhdetachpending:b",
    "pg_depend": "classid:o objid:o objsubid:i refclassid:o refobjid:o refobjsubid:i deptype:s",
    "pg_proc": (
        "oid:o proname:s pronamespace:o proowner:o prolang:o procost:r prorows:r provariadic:o "
        "prosupport:s prokind:s prosecdef:b proleakproof:b proisstrict:b proretset:b provolatile:s "
        "proparallel:s pronargs:i pronargdefaults:i prorettype:o proargtypes:O proallargtypes:O "
        "proargmodes:S proargnames:S proargdefaults:s protrftypes:O prosrc:s probin:s prosqlbody:s "
        "proconfig:S proacl:S"
    ),
    "pg_aggregate": "aggfnoid:o aggkind:s aggnumdirectargs:i aggtransfn:s",
    "pg_trigger": (
        "oid:o tgrelid:o tgparentid:o tgname:s tgfoid:o tgtype:i tgenabled:s tgisinternal:b "
        "tgconstrrelid:o tgconstrindid:o tgconstraint:o tgdeferrable:b tginitdeferred:b tgnargs:i "
        "tgattr:I tgargs:s tgqual:s tgoldtable:s tgnewtable:s"
    ),
    "pg_rewrite": "oid:o rulename:s ev_class:o ev_type:s ev_enabled:s is_instead:b ev_qual:s ev_action:s",
    "pg_extension": (
        "oid:o extname:s extowner:o extnamespace:o extrelocatable:b extversion:s extconfig:O extcondition:S"
    ),
    "pg_enum": "oid:o enumtypid:o enumsortorder:r enumlabel:s",
    "pg_sequence": "seqrelid:o seqtypid:o seqstart:o seqincrement:o seqmax:o seqmin:o seqcache:o seqcycle:b",
    "pg_policy": "oid:o polname:s polrelid:o polcmd:s polpermissive:b polroles:O polqual:s polwithcheck:s",
    "pg_event_trigger": "oid:o evtname:s evtevent:s evtowner:o evtfoid:o",
    "pg_foreign_data_wrapper": "oid:o fdwname:s fdwowner:o fdwoptions:S",
    "pg_foreign_server": "oid:o srvname:s srvowner:o srvfdw:o srvoptions:S",
    "pg_foreign_table": "ftrelid:o ftserver:o ftoptions:S",
    "pg_collation": "oid:o collname:s collnamespace:o collowner:o",
    "pg_statistic_ext": "oid:o stxrelid:o stxname:s stxnamespace:o",
    "pg_publication": "oid:o pubname:s pubowner:o",
    "pg_publication_rel": "oid:o prpubid:o prrelid:o",
    "pg_auth_members": "roleid:o member:o grantor:o admin_option:b",
}
# What `SHOW x` and pg_settings answer (the session's own configuration is locked and DuckDB's anyway)
SETTINGS = {
    "standard_conforming_strings": "on",
    "server_version": SERVER_VERSION,
    "server_encoding": "UTF8",
    "client_encoding": "UTF8",
    "search_path": "main",
    "DateStyle": "ISO, MDY",
    "TimeZone": "UTC",
    "max_identifier_length": "63",
    "integer_datetimes": "on",
    "transaction_isolation": "serializable",
}
_COLUMN_TYPES = {"o": "BIGINT", "i": "INTEGER", "b": "BOOLEAN", "s": "VARCHAR", "r": "REAL"}


_BUILD = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE OR REPLACE TABLE {s}.rel AS
    SELECT schema_name AS nspname, table_name AS relname, 'r' AS relkind, comment, column_count AS natts,
           estimated_size AS tuples
    FROM duckdb_tables() WHERE database_name = current_database() AND schema_name <> 'main'
    UNION ALL
    SELECT schema_name, view_name, 'v', comment, column_count, 0
    FROM duckdb_views() WHERE database_name = current_database() AND schema_name <> 'main' AND NOT internal;
CREATE OR REPLACE TABLE {s}.pg_namespace AS
    SELECT * FROM (VALUES (11::BIGINT, 'pg_catalog', 10::BIGINT, NULL::VARCHAR[]),
                          (13000, 'information_schema', 10, NULL))
        AS t(oid, nspname, nspowner, nspacl)
    UNION ALL
    SELECT DISTINCT (16384 + hash(nspname) % 1000000000)::BIGINT, nspname, 10, NULL FROM {s}.rel;
CREATE OR REPLACE TABLE {s}.pg_class AS
    SELECT (16384 + hash(r.nspname || '.' || r.relname) % 1000000000)::BIGINT AS oid, r.relname,
           n.oid AS relnamespace, 0::BIGINT AS reltype, 0::BIGINT AS reloftype, 10::BIGINT AS relowner,
           CASE r.relkind WHEN 'r' THEN 2 ELSE 0 END::BIGINT AS relam, 0::BIGINT AS relfilenode,
           0::BIGINT AS reltablespace, 0 AS relpages, r.tuples::REAL AS reltuples, 0 AS relallvisible,
           0::BIGINT AS reltoastrelid, false AS relhasindex, false AS relisshared, 'p' AS relpersistence,
           r.relkind, r.natts::INTEGER AS relnatts, 0 AS relchecks, false AS relhasrules,
           false AS relhastriggers, false AS relhassubclass, false AS relrowsecurity,
           false AS relforcerowsecurity, true AS relispopulated, 'd' AS relreplident,
           false AS relispartition, 0::BIGINT AS relrewrite, 0::BIGINT AS relfrozenxid,
           0::BIGINT AS relminmxid, NULL::VARCHAR[] AS relacl, NULL::VARCHAR[] AS reloptions,
           NULL::VARCHAR AS relpartbound
    FROM {s}.rel r JOIN {s}.pg_namespace n USING (nspname);
CREATE OR REPLACE TABLE {s}.pg_type_names AS
    SELECT * FROM (VALUES {types}) AS t(oid, typname, sqlname, typlen, typcategory, typarray);
CREATE OR REPLACE TABLE {s}.pg_type AS
    SELECT oid::BIGINT AS oid, typname, 11::BIGINT AS typnamespace, 10::BIGINT AS typowner,
           typlen::INTEGER AS typlen, typlen > 0 AND typlen <= 8 AS typbyval, 'b' AS typtype, typcategory,
           false AS typispreferred, true AS typisdefined, ',' AS typdelim, 0::BIGINT AS typrelid,
           0::BIGINT AS typelem, typarray::BIGINT AS typarray, typname || 'in' AS typinput,
           typname || 'out' AS typoutput, typname || 'recv' AS typreceive, typname || 'send' AS typsend,
           '-' AS typmodin, '-' AS typmodout, '-' AS typanalyze, 'i' AS typalign,
           CASE WHEN typlen > 0 THEN 'p' ELSE 'x' END AS typstorage, false AS typnotnull,
           0::BIGINT AS typbasetype, -1 AS typtypmod, 0 AS typndims,
           CASE typcategory WHEN 'S' THEN 100 ELSE 0 END::BIGINT AS typcollation,
           NULL::VARCHAR AS typdefaultbin, NULL::VARCHAR AS typdefault, NULL::VARCHAR[] AS typacl
    FROM {s}.pg_type_names
    UNION ALL
    SELECT typarray, '_' || typname, 11, 10, -1, false, 'b', 'A', false, true, ',', 0, oid, 0, 'array_in',
           'array_out', 'array_recv', 'array_send', '-', '-', 'array_typanalyze', 'i', 'x', false, 0, -1, 0,
           CASE typcategory WHEN 'S' THEN 100 ELSE 0 END, NULL, NULL, NULL
    FROM {s}.pg_type_names;
CREATE OR REPLACE TABLE {s}.col AS
    SELECT c.oid AS attrelid, k.column_name AS attname, k.column_index AS attnum, k.comment,
           k.data_type, NOT k.is_nullable AS attnotnull, k.column_default,
           regexp_extract(k.data_type, '^DECIMAL\\((\\d+),(\\d+)\\)$', ['p', 's']) AS dec
    FROM duckdb_columns() k
    JOIN {s}.pg_namespace n ON n.nspname = k.schema_name
    JOIN {s}.pg_class c ON c.relname = k.table_name AND c.relnamespace = n.oid
    WHERE k.database_name = current_database();
CREATE OR REPLACE TABLE {s}.pg_attribute AS
    SELECT attrelid, attname, t.oid AS atttypid, -1 AS attstattarget, t.typlen AS attlen,
           attnum::INTEGER AS attnum, CASE WHEN k.data_type LIKE '%[]' THEN 1 ELSE 0 END AS attndims,
           -1 AS attcacheoff,
           CASE WHEN dec.p <> '' THEN (try_cast(dec.p AS INTEGER) << 16) + try_cast(dec.s AS INTEGER) + 4
                ELSE -1 END AS atttypmod,
           t.typbyval AS attbyval, t.typstorage AS attstorage, 'i' AS attalign, attnotnull,
           column_default IS NOT NULL AS atthasdef, false AS atthasmissing, '' AS attidentity,
           '' AS attgenerated, false AS attisdropped, true AS attislocal, 0 AS attinhcount,
           t.typcollation AS attcollation, NULL::VARCHAR[] AS attacl, NULL::VARCHAR[] AS attoptions,
           NULL::VARCHAR[] AS attfdwoptions, NULL::VARCHAR AS attmissingval
    FROM {s}.col k LEFT JOIN {s}.pg_type_names e
        ON k.data_type LIKE '%[]' AND e.oid = pgcat_scalar_oid(regexp_replace(k.data_type, '\\[\\]$', ''))
    JOIN {s}.pg_type t ON t.oid = coalesce(e.typarray, pgcat_scalar_oid(k.data_type));
CREATE OR REPLACE TABLE {s}.pg_description AS
    SELECT c.oid AS objoid, 1259::BIGINT AS classoid, 0 AS objsubid, r.comment AS description
    FROM {s}.pg_class c JOIN {s}.pg_namespace n ON n.oid = c.relnamespace
    JOIN {s}.rel r ON r.nspname = n.nspname AND r.relname = c.relname WHERE r.comment IS NOT NULL
    UNION ALL
    SELECT attrelid, 1259, attnum, comment FROM {s}.col WHERE comment IS NOT NULL;
CREATE OR REPLACE TABLE {s}.pg_database AS
    SELECT 16384::BIGINT AS oid, {database} AS datname, 10::BIGINT AS datdba, 6 AS encoding,
           'c' AS datlocprovider,
           false AS datistemplate, true AS datallowconn, -1 AS datconnlimit, 0::BIGINT AS datfrozenxid,
           0::BIGINT AS datminmxid, 1663::BIGINT AS dattablespace, 'C.UTF-8' AS datcollate,
           'C.UTF-8' AS datctype, NULL::VARCHAR AS daticulocale, NULL::VARCHAR AS datcollversion,
           NULL::VARCHAR[] AS datacl;
CREATE OR REPLACE TABLE {s}.pg_roles AS
    SELECT {user} AS rolname, false AS rolsuper, true AS rolinherit, false AS rolcreaterole,
           false AS rolcreatedb, true AS rolcanlogin, false AS rolreplication, -1 AS rolconnlimit,
           '********' AS rolpassword, NULL::TIMESTAMPTZ AS rolvaliduntil, false AS rolbypassrls,
           NULL::VARCHAR[] AS rolconfig, 10::BIGINT AS oid;
CREATE OR REPLACE TABLE {s}.pg_user AS
    SELECT rolname AS usename, oid AS usesysid, false AS usecreatedb, false AS usesuper,
           false AS userepl, false AS usebypassrls, '********' AS passwd, NULL::TIMESTAMPTZ AS valuntil,
           NULL::VARCHAR[] AS useconfig FROM {s}.pg_roles;
CREATE OR REPLACE TABLE {s}.pg_am AS
    SELECT 2::BIGINT AS oid, 'heap' AS amname, 'heap_tableam_handler' AS amhandler, 't' AS amtype;
CREATE OR REPLACE TABLE {s}.pg_tablespace AS
    SELECT 1663::BIGINT AS oid, 'pg_default' AS spcname, 10::BIGINT AS spcowner, NULL::VARCHAR[] AS spcacl,
           NULL::VARCHAR[] AS spcoptions;
CREATE OR REPLACE TABLE {s}.pg_settings AS
    SELECT name, setting, NULL::VARCHAR AS unit, 'Client Connection Defaults' AS category,
           '' AS short_desc, NULL::VARCHAR AS extra_desc, 'user' AS context, 'string' AS vartype,
           'default' AS source, NULL::VARCHAR AS min_val, NULL::VARCHAR AS max_val,
           NULL::VARCHAR[] AS enumvals, setting AS boot_val, setting AS reset_val
    FROM (VALUES {settings})
        AS t(name, setting);
CREATE OR REPLACE TABLE {s}.pg_tables AS
    SELECT n.nspname AS schemaname, c.relname AS tablename, {user} AS tableowner, NULL::VARCHAR AS tablespace,
           false AS hasindexes, false AS hasrules, false AS hastriggers, false AS rowsecurity
    FROM {s}.pg_class c JOIN {s}.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r';
CREATE OR REPLACE TABLE {s}.pg_views AS
    SELECT n.nspname AS schemaname, c.relname AS viewname, {user} AS viewowner, NULL::VARCHAR AS definition
    FROM {s}.pg_class c JOIN {s}.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'v';
CREATE OR REPLACE TABLE {s}.pgcat_types AS
    SELECT oid AS pgcat_oid, t.typname AS pgcat_name, CASE WHEN t.typcategory = 'A' THEN
        (SELECT e.sqlname || '[]' FROM {s}.pg_type_names e WHERE e.oid = t.typelem) ELSE n.sqlname END
        AS pgcat_sqlname
    FROM {s}.pg_type t LEFT JOIN {s}.pg_type_names n USING (oid);
CREATE OR REPLACE TABLE {s}.pgcat_relations AS
    SELECT c.oid AS pgcat_oid, n.nspname || '.' || c.relname AS pgcat_qname, c.relname AS pgcat_relname
    FROM {s}.pg_class c JOIN {s}.pg_namespace n ON n.oid = c.relnamespace;
CREATE OR REPLACE TABLE {s}.pgcat_namespaces AS
    SELECT oid AS pgcat_oid, nspname AS pgcat_name FROM {s}.pg_namespace;
CREATE OR REPLACE TABLE {s}.pgcat_descriptions AS
    SELECT objoid AS pgcat_oid, objsubid AS pgcat_sub, description AS pgcat_text FROM {s}.pg_description;
CREATE OR REPLACE TABLE {s}.pg_keywords AS
    SELECT keyword_name AS word, 'U' AS catcode, keyword_category AS catdesc FROM duckdb_keywords();
"""

# The functions clients call that DuckDB lacks or answers in its own terms (its format_type knows its own
# type OIDs): renamed to these session macros when a statement is rewritten.
MACROS = {
    "format_type": "(t, m) AS CASE WHEN t IS NULL THEN NULL WHEN t = 1700 AND m > 4 "
    "THEN printf('numeric(%d,%d)', (m - 4) >> 16, (m - 4) & 65535) "
    "ELSE coalesce((SELECT pgcat_sqlname FROM {s}.pgcat_types WHERE pgcat_oid = t), '???') END",
    "pg_get_expr": "(e, r, p := false) AS NULL::VARCHAR",
    "pg_get_partkeydef": "(r) AS NULL::VARCHAR",
    "pg_get_constraintdef": "(c, p := false) AS NULL::VARCHAR",
    "pg_get_indexdef": "(i, c := 0, p := false) AS NULL::VARCHAR",
    "pg_get_viewdef": "(v, p := false) AS NULL::VARCHAR",
    "pg_get_triggerdef": "(t, p := false) AS NULL::VARCHAR",
    "pg_get_userbyid": "(u) AS CASE WHEN u = 10 THEN {user} END",
    "pg_total_relation_size": "(r) AS 0::BIGINT",
    "pg_relation_size": "(r, f := 'main') AS 0::BIGINT",
    "pg_table_size": "(r) AS 0::BIGINT",
    "pg_indexes_size": "(r) AS 0::BIGINT",
    "pg_stat_get_numscans": "(r) AS 0::BIGINT",
    "pg_tablespace_location": "(t) AS ''",
    "obj_description": "(o, c := 'pg_class') AS (SELECT pgcat_text FROM {s}.pgcat_descriptions "
    "WHERE pgcat_oid = o AND pgcat_sub = 0)",
    "col_description": "(o, n) AS (SELECT pgcat_text FROM {s}.pgcat_descriptions "
    "WHERE pgcat_oid = o AND pgcat_sub = n)",
    "shobj_description": "(o, c) AS NULL::VARCHAR",
    "array_upper": "(a, d) AS len(a)",
    "array_lower": "(a, d) AS CASE WHEN len(a) > 0 THEN 1 END",
    "pg_encoding_to_char": "(e) AS 'UTF8'",
    "has_schema_privilege": "(a, b, c := NULL) AS true",
    "has_table_privilege": "(a, b, c := NULL) AS true",
    "has_database_privilege": "(a, b, c := NULL) AS true",
    "regclass_name": "(r) AS (SELECT pgcat_qname FROM {s}.pgcat_relations WHERE pgcat_oid = r)",
    "regclass_oid": "(q) AS (SELECT pgcat_oid FROM {s}.pgcat_relations WHERE pgcat_qname = q "
    "OR pgcat_relname = q ORDER BY pgcat_qname = q DESC LIMIT 1)",
    "regtype_name": "(t) AS (SELECT pgcat_name FROM {s}.pgcat_types WHERE pgcat_oid = t)",
    "regtype_oid": "(q) AS (SELECT pgcat_oid FROM {s}.pgcat_types WHERE pgcat_name = q OR pgcat_sqlname = q)",
    "regnamespace_name": "(o) AS (SELECT pgcat_name FROM {s}.pgcat_namespaces WHERE pgcat_oid = o)",
}
MACRO_PREFIX = "pgcat_"

_SCALAR_OIDS = (
    "CASE WHEN d = 'BOOLEAN' THEN 16 WHEN d = 'BLOB' THEN 17 WHEN d IN ('BIGINT', 'UINTEGER') THEN 20 "
    "WHEN d IN ('SMALLINT', 'TINYINT', 'UTINYINT') THEN 21 WHEN d IN ('INTEGER', 'USMALLINT') THEN 23 "
    "WHEN d = 'FLOAT' THEN 700 WHEN d = 'DOUBLE' THEN 701 WHEN d = 'DATE' THEN 1082 "
    "WHEN d = 'TIME' THEN 1083 WHEN d = 'TIMESTAMP WITH TIME ZONE' THEN 1184 "
    "WHEN d LIKE 'TIMESTAMP%' THEN 1114 WHEN d = 'INTERVAL' THEN 1186 WHEN d = 'UUID' THEN 2950 "
    "WHEN d LIKE 'DECIMAL%' OR d IN ('HUGEINT', 'UBIGINT') THEN 1700 ELSE 25 END"
)

CATALOG_TABLES = {
    *EMPTY,
    "pg_namespace",
    "pg_class",
    "pg_type",
    "pg_attribute",
    "pg_description",
    "pg_database",
    "pg_roles",
    "pg_user",
    "pg_am",
    "pg_tablespace",
    "pg_settings",
    "pg_tables",
    "pg_views",
}


def install(con: duckdb.DuckDBPyConnection, user: str, database: str) -> None:
    """Build the catalog tables and macros in this session (once per session, on its first catalog query)."""
    con.execute(f"CREATE OR REPLACE TEMP MACRO {MACRO_PREFIX}scalar_oid(d) AS {_SCALAR_OIDS}")
    types = ", ".join(f"({o}, '{n}', '{q}', {ln}, '{c}', {a})" for o, n, q, ln, c, a in TYPES)
    settings = ", ".join(f"({quote(k)}, {quote(v)})" for k, v in SETTINGS.items())
    sql = _BUILD.format(settings=settings, s=SCHEMA, types=types, user=quote(user), database=quote(database))
    for stmt in filter(str.strip, sql.split(";\n")):
        con.execute(stmt)
    for table, spec in EMPTY.items():
        cols = ", ".join(f"{c} {_column_type(t)}" for c, t in (col.split(":") for col in spec.split()))
        con.execute(f"CREATE OR REPLACE TABLE {SCHEMA}.{table} ({cols})")
    for name, body in MACROS.items():  # after the tables they read
        body = body.format(s=SCHEMA, user=quote(user))
        con.execute(f"CREATE OR REPLACE TEMP MACRO {MACRO_PREFIX}{name}{body}")


def _column_type(code: str) -> str:
    return _COLUMN_TYPES[code.lower()] + ("[]" if code.isupper() else "")


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
