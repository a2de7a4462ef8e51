"""Shared fixtures: a temporary LAKEHOUSE_HOME for anything that touches storage or Dagster."""

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

import warehouse.allocator  # noqa: E402, F401  (before polars: the allocator the lakehouse runs with)
