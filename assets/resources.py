"""Dagster resources: the lake (Delta storage + landing) and the warehouse (DuckDB serving)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from warehouse.serving import connect, refresh_views
from warehouse.settings import Settings
from warehouse.storage import Lake


class LakeResource(ConfigurableResource):
    """Where the lakehouse lives (LAKEHOUSE_HOME) and the pipeline's tunables."""

    home: str
    late_watermark_days: int = 7
    natural_gas_kgce_per_m3: float = 1.2143
    partitions_start: str = "2025-01-01"

    @property
    def settings(self) -> Settings:
        return Settings(
            home=Path(self.home),
            late_watermark_days=self.late_watermark_days,
            partitions_start=dt.date.fromisoformat(self.partitions_start),
            natural_gas_kgce_per_m3=self.natural_gas_kgce_per_m3,
        )

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
