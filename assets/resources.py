"""Dagster resources: the lake (Delta storage + landing) and the warehouse (DuckDB serving)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from warehouse.access import ROLES
from warehouse.serving.refresh import refresh_role_views
from warehouse.serving.session import open_role
from warehouse.settings import Settings, load_settings
from warehouse.storage import Lake


class LakeResource(ConfigurableResource):
    """Where the lakehouse lives (LAKEHOUSE_HOME); the tunables come from the same settings loader."""

    home: str = ""  # empty: LAKEHOUSE_HOME as the run finds it

    @property
    def settings(self) -> Settings:
        return load_settings(dict(os.environ) | ({"LAKEHOUSE_HOME": self.home} if self.home else {}))

    @property
    def lake(self) -> Lake:
        return self.settings.open_lake()


class WarehouseResource(ConfigurableResource):
    """The roles' DuckDB files (warehouse.duckdb and its siblings, see warehouse.serving)."""

    database: str = ""  # empty: the warehouse of LAKEHOUSE_HOME as the run finds it

    @property
    def path(self) -> Path:
        return Path(self.database) if self.database else load_settings().warehouse_db

    def refresh(self, lake: Lake) -> list[str]:
        """Every role's file brought up to date with the lake (tables copied, marts rebuilt as needed)."""
        return refresh_role_views(self.path, lake)

    def connect(self, read_only: bool = True, role: str = "analyst") -> duckdb.DuckDBPyConnection:
        """A sealed read-only session on the role's file, refreshed first from this home's lake (the one
        beside the database), so what a reader reports matches what it read."""
        if not read_only:
            raise ValueError("role databases are only ever opened read-only")
        home = self.path.parent
        lake = load_settings(dict(os.environ) | {"LAKEHOUSE_HOME": str(home)}).open_lake()
        return open_role(self.path, ROLES[role], lake=lake)


class LineageResource(ConfigurableResource):
    """Upstream/downstream tables per table, taken from the asset definitions when the location loads."""

    edges_json: str

    def edges(self) -> dict[str, tuple[list[str], list[str]]]:
        return {k: (v[0], v[1]) for k, v in json.loads(self.edges_json).items()}


def lineage_from_assets(assets_defs) -> dict[str, tuple[list[str], list[str]]]:
    """Table-level lineage from asset specs' dependencies (asset key a/b is table a.b)."""
    parents: dict[str, set[str]] = {}
    for a in assets_defs:
        for spec in a.specs:
            name = ".".join(spec.key.path)
            parents.setdefault(name, set()).update(".".join(d.asset_key.path) for d in spec.deps)
    children: dict[str, set[str]] = {n: set() for n in parents}
    for name, ups in parents.items():
        for up in ups:
            children.setdefault(up, set()).add(name)
    return {
        n: (sorted(parents.get(n, ())), sorted(children.get(n, ()))) for n in set(parents) | set(children)
    }
