"""Writing a multi-asset's whole tables: one Delta commit each, in the order given."""

from __future__ import annotations

import polars as pl

from warehouse.registry import TableSpec
from warehouse.storage import Lake


def overwrite_each(store: Lake, frames: list[tuple[TableSpec, pl.DataFrame]], *, run_id: str) -> list[int]:
    """Replace each table with its frame (Lake.overwrite: no commit when nothing changed); the versions,
    in the order of `frames`, for each output's metadata."""
    return [store.overwrite(spec, df, run_id=run_id) for spec, df in frames]
