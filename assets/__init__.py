"""Dagster assets and the plain functions they call."""

import warehouse.allocator  # noqa: F401  (before polars: see warehouse/allocator.py)
