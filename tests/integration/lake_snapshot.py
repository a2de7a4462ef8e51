"""Compare two homes' lakes table by table and partition by partition (reusable by any convergence test).

`snapshot(lake_root)` maps (table, partition) to (row count, order-independent content checksum) for
every registry table. Columns that legitimately differ between two runs of the same data (run ids, the
moment a run wrote or checked something, Delta versions, freshness) are left out; floats are rounded so
that a different summation order does not count as different content.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from warehouse.registry import TABLES, TableSpec
from warehouse.storage import Lake

# Which run, and when: differ between any two runs of the same input.
RUN_COLUMNS = frozenset(
    {
        "run_id",
        "ingest_run_id",
        "quarantined_run_id",
        "ingested_at",
        "superseded_at",
        "built_at",
        "run_started_at",
        "checked_at",
        "last_checked_at",
        "updated_at",
        "sent_at",
        "acknowledged_at",
        "issued_at",  # silver.identifier: when a handle was first issued, by the clock of the run that did
        "revoked_at",
    }
)
# Per table: what describes the storage or the clock rather than the content.
TABLE_COLUMNS = {
    "catalog.dataset": frozenset({"latest_version", "freshness_hours", "size_bytes"}),
    "catalog.catalog_build": frozenset({"delta_version"}),
    # measured against the clock when the catalog ran ("so far today", minutes since the last reading)
    "catalog.feed_status": frozenset({"lateness_minutes", "readings_expected", "completeness_pct"}),
}
FLOAT_DECIMALS = 6
UNPARTITIONED = "-"

Snapshot = dict[tuple[str, str], tuple[int, int]]


def compared_columns(spec: TableSpec, present: list[str]) -> list[str]:
    skip = RUN_COLUMNS | TABLE_COLUMNS.get(spec.name, frozenset())
    return [c for c in present if c not in skip]


def _checksum(df: pl.DataFrame) -> int:
    """Sum of row hashes modulo 2**64: independent of row order, sensitive to every kept value."""
    if df.is_empty():
        return 0
    df = df.with_columns(
        pl.col(c).round(FLOAT_DECIMALS) for c, t in df.schema.items() if t in (pl.Float32, pl.Float64)
    )
    hashes = df.hash_rows(seed=0)
    return sum(hashes.to_list()) % (1 << 64)


def snapshot(lake_root: Path | Lake, tables: dict[str, TableSpec] = TABLES) -> Snapshot:
    """(table, partition) -> (rows, checksum) for every table that exists under `lake_root` (a folder,
    or a Lake, e.g. one on object storage)."""
    lake = lake_root if isinstance(lake_root, Lake) else Lake(lake_root)
    out: Snapshot = {}
    for name, spec in tables.items():
        if not lake.exists(spec):
            continue
        df = lake.read(spec)
        df = df.select(compared_columns(spec, df.columns))
        if spec.partition_by and spec.partition_by in df.columns:
            for (value,), part in df.group_by(spec.partition_by):
                out[(name, str(value))] = (part.height, _checksum(part))
        else:
            out[(name, UNPARTITIONED)] = (df.height, _checksum(df))
    return out


def differences(expected: Snapshot, got: Snapshot) -> list[str]:
    """Human-readable differences, one per (table, partition): missing, extra, or other rows/content."""
    problems = []
    for key in sorted(expected.keys() | got.keys()):
        want, have = expected.get(key), got.get(key)
        if want == have:
            continue
        table, part = key
        if have is None:
            problems.append(f"{table}[{part}]: missing (expected {want[0]} rows)")
        elif want is None:
            problems.append(f"{table}[{part}]: unexpected ({have[0]} rows)")
        elif want[0] != have[0]:
            problems.append(f"{table}[{part}]: {have[0]} rows, expected {want[0]}")
        else:
            problems.append(f"{table}[{part}]: same {have[0]} rows, different content")
    return problems


def tables_differing(expected: Snapshot, got: Snapshot) -> set[str]:
    return {key[0] for key in expected.keys() | got.keys() if expected.get(key) != got.get(key)}
