"""Classification enforced: every column is graded, and the analysts' views never carry a grade-3 column."""

from pathlib import Path

import duckdb
import polars as pl
import pytest

from warehouse.access import ANALYST, ROLES, STEWARD, role_database, visible_columns
from warehouse.registry import ENTERPRISE, TABLES, TableSpec
from warehouse.serving.contents import view_sql
from warehouse.serving.delta import DELTA_EXTENSION
from warehouse.serving.refresh import refresh_role_views
from warehouse.serving.session import connect
from warehouse.storage import Lake


def test_every_column_of_every_table_has_a_grade_and_personal_data_is_at_least_grade_2():
    for spec in TABLES.values():
        assert spec.grade in (1, 2, 3), spec.name
        for c in spec.columns:
            assert c.grade in (1, 2, 3), f"{spec.name}.{c.name}"
            if c.pii:
                assert c.grade >= 2, f"{spec.name}.{c.name} is personal data below grade 2"


def test_grade_3_columns_exist_and_the_analyst_role_sees_none_of_them():
    grade3 = [(s.name, c.name) for s in TABLES.values() for c in s.columns if c.grade == 3]
    assert (ENTERPRISE.name, "legal_representative_id") in grade3  # so the checks below bite
    for spec in TABLES.values():
        shown = {c.name for c in visible_columns(spec, ANALYST)}
        assert not shown & {c.name for c in spec.columns if c.grade == 3}, spec.name
        sql = view_sql(spec, Lake(Path("/lake")), ANALYST) or ""
        assert all(f" {c.name} " not in sql and f"{c.name}," not in sql for c in spec.columns if c.grade == 3)
    steward = {c.name for c in visible_columns(ENTERPRISE, STEWARD)}
    assert "legal_representative_id" in steward


def test_a_table_above_the_role_grade_gets_no_view():
    secret = TableSpec("silver.recipe", ENTERPRISE.columns[:2], "grade-3 table", "production", 3, "core")
    assert view_sql(secret, Lake(Path("/lake")), ANALYST) is None
    assert view_sql(secret, Lake(Path("/lake")), STEWARD) is not None


def test_role_databases_sit_next_to_the_warehouse():
    db = Path("/home/x/warehouse.duckdb")
    assert role_database(db, ANALYST) == db
    assert role_database(db, STEWARD) == Path("/home/x/warehouse_steward.duckdb")
    assert set(ROLES) == {"analyst", "steward"}


ID_NUMBER = "11010519491231002X"


def personal_lake(tmp_path: Path) -> tuple[Lake, Path]:
    """A lake holding one enterprise whose representative's ID number (grade 3) is ID_NUMBER, and the
    warehouse file whose role files were built over it."""
    lake = Lake(tmp_path / "lake")
    row = {c.name: None for c in ENTERPRISE.columns} | {
        "uscc": "914403001922038216",
        "legal_representative": "张三",
        "phone": "13812341234",
        "legal_representative_id": ID_NUMBER,
    }
    lake.append(ENTERPRISE, pl.DataFrame([row], schema=ENTERPRISE.schema), run_id="t")
    db = tmp_path / "warehouse.duckdb"
    refresh_role_views(db, lake, {ENTERPRISE.name: ENTERPRISE})
    return lake, db


def test_analyst_view_leaves_out_the_id_number_and_steward_view_masks_it(tmp_path):
    _, db = personal_lake(tmp_path)
    con = connect(db, read_only=True)
    try:
        cols = [r[0] for r in con.execute("DESCRIBE silver.enterprise").fetchall()]
        assert "legal_representative_id" not in cols and "legal_representative" in cols
    finally:
        con.close()
    con = connect(role_database(db, STEWARD), read_only=True)
    try:
        (masked,) = con.execute("SELECT legal_representative_id FROM silver.enterprise").fetchone()
        assert masked == "110105********002X"
    finally:
        con.close()


def test_a_regraded_column_changes_the_existing_view(tmp_path):
    """Views are recreated when their definition changes, not only when a table first appears."""
    lake = Lake(tmp_path / "lake")
    row = {c.name: None for c in ENTERPRISE.columns} | {"uscc": "914403001922038216", "address": "经十路1号"}
    lake.append(ENTERPRISE, pl.DataFrame([row], schema=ENTERPRISE.schema), run_id="t")
    db = tmp_path / "warehouse.duckdb"
    refresh_role_views(db, lake, {ENTERPRISE.name: ENTERPRISE})
    regraded = TableSpec(
        ENTERPRISE.name,
        tuple(
            type(c)(c.name, c.dtype, c.description, 3, c.pii) if c.name == "address" else c
            for c in ENTERPRISE.columns
        ),
        ENTERPRISE.description,
        ENTERPRISE.domain,
        ENTERPRISE.grade,
        ENTERPRISE.owner,
        key=ENTERPRISE.key,
    )
    assert "analyst:silver.enterprise" in refresh_role_views(db, lake, {ENTERPRISE.name: regraded})
    assert refresh_role_views(db, lake, {ENTERPRISE.name: regraded}) == []  # unchanged: nothing recreated
    con = connect(db, read_only=True)
    try:
        assert "address" not in [r[0] for r in con.execute("DESCRIBE silver.enterprise").fetchall()]
    finally:
        con.close()


# ---- the boundary holds whatever SQL a session sends ----------------------------------------------


@pytest.fixture
def sealed(tmp_path):
    """A lake holding a grade-3 personal value, the role files built over it, and a path to write to."""
    lake, db = personal_lake(tmp_path)
    return {"lake": lake, "db": db, "out": tmp_path / "out"}


def attacks(lake: Lake, out: Path) -> dict[str, str]:
    table = lake.path(ENTERPRISE)
    parquet = next(table.glob("*.parquet"))
    return {
        "delta_scan": f"SELECT legal_representative_id FROM delta_scan('{table}')",
        "read_parquet": f"SELECT legal_representative_id FROM read_parquet('{parquet}')",
        "read_parquet_glob": f"SELECT * FROM read_parquet('{table}/*.parquet')",
        "read_csv": "SELECT * FROM read_csv('/etc/passwd', sep = ':')",
        "read_text": "SELECT content FROM read_text('/etc/passwd')",
        "glob": f"SELECT * FROM glob('{table}/*')",
        "attach": f"ATTACH '{out}.duckdb' AS exfil",
        "copy_to": f"COPY (SELECT * FROM silver.enterprise) TO '{out}.csv'",
        "export": f"EXPORT DATABASE '{out}'",
        "install": "INSTALL delta",
        "load": "LOAD delta",
        "load_file": f"LOAD '{DELTA_EXTENSION}'",
        "set_access": "SET enable_external_access = true",
        "reset_access": "RESET enable_external_access",
        "set_dirs": f"SET allowed_directories = ['{lake.root}']",
        "set_paths": f"SET allowed_paths = ['{parquet}']",
        "unlock": "SET lock_configuration = false",
        "filesystems": "RESET disabled_filesystems",
        "autoload": "SET autoload_known_extensions = true",
        "pragma": "PRAGMA enable_external_access = true",
        "http": "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    }


@pytest.mark.parametrize("role", [ANALYST, STEWARD], ids=lambda r: r.name)
def test_a_sealed_session_refuses_every_way_out_of_its_file(sealed, role):
    con = connect(role_database(sealed["db"], role))
    try:
        for name, sql in attacks(sealed["lake"], sealed["out"]).items():
            with pytest.raises(duckdb.Error) as refused:
                con.execute(sql).fetchall()
            assert str(refused.value).strip(), name
        shown = [
            v
            for (t,) in con.execute(
                "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE database_name = 'warehouse'"
            ).fetchall()
            for v in map(str, sum(con.execute(f"SELECT * FROM {t}").fetchall(), ()))
        ]
        assert ID_NUMBER not in shown and "张三" not in shown and "13812341234" not in shown
        assert con.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is False
    finally:
        con.close()
    assert not list(sealed["out"].parent.glob("out*"))  # nothing written anywhere


def test_role_files_hold_no_path_into_the_lake(sealed):
    """A role file carries copies of what the role may see, no view reading the lake."""
    for role in ROLES.values():
        con = connect(role_database(sealed["db"], role))
        try:
            defs = [r[0] for r in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()]
            assert not any("delta_scan" in (d or "") for d in defs)
        finally:
            con.close()


def test_a_table_regraded_above_the_role_leaves_its_file(sealed):
    lake, db = sealed["lake"], sealed["db"]
    secret = TableSpec(
        ENTERPRISE.name, ENTERPRISE.columns, ENTERPRISE.description, ENTERPRISE.domain, 3, ENTERPRISE.owner
    )
    assert "steward:silver.enterprise" not in refresh_role_views(db, lake, {ENTERPRISE.name: secret})
    con = connect(db)
    try:
        names = {
            r[0]
            for r in con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables()").fetchall()
        }
        assert "silver.enterprise" not in names
    finally:
        con.close()
    con = connect(role_database(db, STEWARD))
    try:
        assert con.execute("SELECT count(*) FROM silver.enterprise").fetchone()[0] == 1
    finally:
        con.close()
