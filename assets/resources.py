"""Dagster resources: the lake (Delta storage + landing) and the warehouse (DuckDB serving)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from warehouse.serving import connect, refresh_views
from warehouse.settings import Settings, load_settings
from warehouse.storage import Lake


class LakeResource(ConfigurableResource):
    """Where the lakehouse lives (LAKEHOUSE_HOME); the tunables come from the same settings loader."""

    home: str

    @property
    def settings(self) -> Settings:
        return load_settings(dict(os.environ) | {"LAKEHOUSE_HOME": self.home})

    @property
    def lake(self) -> Lake:
        return Lake(self.settings.lake)


class WarehouseResource(ConfigurableResource):
    """The DuckDB file analysts query; views over the Delta tables."""

    database: str

    def refresh(self, lake: Lake) -> list[str]:
        return refresh_views(Path(self.database), lake)

    def connect(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        return connect(Path(self.database), read_only=read_only)
