"""Classification enforced: every column is graded, and the analysts' views never carry a grade-3 column."""

from pathlib import Path

import polars as pl

from warehouse.access import ANALYST, ROLES, STEWARD, role_database, visible_columns
from warehouse.registry import ENTERPRISE, TABLES, TableSpec
from warehouse.serving import connect, refresh_role_views, view_sql
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


def test_analyst_view_leaves_out_the_id_number_and_steward_view_masks_it(tmp_path):
    lake = Lake(tmp_path / "lake")
    row = {c.name: None for c in ENTERPRISE.columns} | {
        "uscc": "914403001922038216",
        "legal_representative": "张三",
        "phone": "13812341234",
        "legal_representative_id": "11010519491231002X",
    }
    lake.append(ENTERPRISE, pl.DataFrame([row], schema=ENTERPRISE.schema), run_id="t")
    db = tmp_path / "warehouse.duckdb"
    refresh_role_views(db, lake, {ENTERPRISE.name: ENTERPRISE})
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
