"""Master data from the simulator/plant registry exports: enterprises and their equipment."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from warehouse.registry import ENTERPRISE, EQUIPMENT, TableSpec

MASTER_FILES: dict[str, str] = {ENTERPRISE.name: "enterprises.parquet", EQUIPMENT.name: "equipment.parquet"}


CONNECTED_COLUMNS = ("uscc", "name", "city_code", "division_code", "industry_code", "key_energy_user")


class MissingMasterData(FileNotFoundError):
    pass


def read_master(master_dir: Path, spec: TableSpec) -> pl.DataFrame:
    """The master export for a table, conformed to its declared columns; a clear error if absent."""
    path = master_dir / MASTER_FILES[spec.name]
    if not path.exists():
        raise MissingMasterData(f"{spec.name}: expected master data file {path} (run `lakehouse generate`)")
    df = pl.read_parquet(path)
    # silver.enterprise is the golden record now (assets/enterprise/golden.py); the telemetry master export
    # only lists the connected enterprises with their city and industry.
    schema = (
        {n: t for n, t in spec.schema.items() if n in CONNECTED_COLUMNS}
        if spec is ENTERPRISE
        else dict(spec.schema)
    )
    key = ["uscc"] if spec is ENTERPRISE else list(spec.key)
    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} for {spec.name}")
    return df.select([pl.col(n).cast(t) for n, t in schema.items()]).unique(subset=key, keep="last")
