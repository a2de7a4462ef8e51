"""Dagster definitions, jobs, schedules, sensors and the lakehouse CLI."""

import warehouse.allocator  # noqa: F401  (before polars: see warehouse/allocator.py)
