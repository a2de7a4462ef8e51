"""Who sees which grade: the roles of the serving layer, derived from the registry's column grades.

Embedded deployment (one machine, DuckDB files): a role is a DuckDB file of native tables (see
warehouse.serving). Analysts get `warehouse.duckdb`, which holds no column above grade 2 and only masked
personal data; data stewards of the provincial core get `warehouse_steward.duckdb`, which holds grade-3
columns, personal data still masked. A person is given a role by the file they may open (OS group
permissions on the two files; `lakehouse sql --role`). The file is the enforcement point: it contains
nothing the role may not see and no path into the lake, and sessions opened through
`warehouse.serving.session.connect` can read no other file. The Delta files underneath hold every column, so
the lake directory itself is readable by the platform's service account only.

Server deployment: the same ROLES become database roles or policies generated from the registry, e.g.
PostgreSQL/pg_duckdb or a Trino/Ranger column-masking and column-denial policy per grade, or a query
service that authenticates users (OIDC) and opens the role's database for them; analysts then have no
file access at all. The role table below stays the one declaration either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from warehouse.registry import Column, TableSpec


@dataclass(frozen=True)
class Role:
    name: str
    max_grade: int  # highest column grade the role's file holds
    description: str
    database_suffix: str  # "" for the analysts' warehouse.duckdb


ANALYST = Role("analyst", 2, "Analysts of the center: grade 1 and 2 columns, personal data masked", "")
STEWARD = Role(
    "steward",
    3,
    "Data stewards of the provincial core: every grade, personal data masked",
    "_steward",
)
ROLES: dict[str, Role] = {r.name: r for r in (ANALYST, STEWARD)}


def role_database(warehouse_db: Path, role: Role) -> Path:
    """The role's DuckDB file next to the analysts' one (warehouse.duckdb -> warehouse_steward.duckdb)."""
    return warehouse_db.with_name(f"{warehouse_db.stem}{role.database_suffix}{warehouse_db.suffix}")


def visible_columns(spec: TableSpec, role: Role) -> list[Column]:
    """The table's columns the role may see; none when the table itself is above the role's grade."""
    if spec.grade > role.max_grade:
        return []
    return [c for c in spec.columns if c.grade <= role.max_grade]
