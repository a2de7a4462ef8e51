"""Master data from the simulator/plant registry exports: enterprises and their equipment."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from warehouse.registry import ENTERPRISE, EQUIPMENT, TableSpec

MASTER_FILES: dict[str, str] = {ENTERPRISE.name: "enterprises.parquet", EQUIPMENT.name: "equipment.parquet"}


class MissingMasterData(FileNotFoundError):
    pass


def read_master(master_dir: Path, spec: TableSpec) -> pl.DataFrame:
    """The master export for a table, conformed to its declared columns; a clear error if absent."""
    path = master_dir / MASTER_FILES[spec.name]
    if not path.exists():
        raise MissingMasterData(f"{spec.name}: expected master data file {path} (run `lakehouse generate`)")
    df = pl.read_parquet(path)
    missing = [c for c in spec.schema if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} for {spec.name}")
    return df.select([pl.col(n).cast(t) for n, t in spec.schema.items()]).unique(subset=list(spec.key), keep="last")
