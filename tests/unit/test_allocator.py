"""polars' allocator keeps freed pages (warehouse/allocator.py) in every process that starts from one of
the project's entry points, and an operator's own setting wins."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from warehouse.allocator import FREED_PAGES_KEPT, POLARS_ALLOCATOR_ENV

ENTRY_POINTS = [
    "orchestration.definitions",  # the Dagster code location: UI, daemon, run workers
    "orchestration.cli",  # `lakehouse`
    "assets.telemetry.shards",  # what a spawned shard worker imports first
    "quality.gx",
    "bench.child",  # every engine of the bench
]


def _allocator_conf(module: str, extra_env: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != POLARS_ALLOCATOR_ENV} | (extra_env or {})
    probe = f"import os, {module}, polars; print(os.environ[{POLARS_ALLOCATOR_ENV!r}])"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_polars_loads_with_freed_pages_kept(module):
    # polars appends the variable to its own defaults when it loads: ours must be last (last key wins)
    assert _allocator_conf(module).endswith(FREED_PAGES_KEPT)


def test_an_operators_allocator_setting_is_kept():
    conf = _allocator_conf("orchestration.definitions", {POLARS_ALLOCATOR_ENV: "dirty_decay_ms:100"})
    assert conf.endswith("dirty_decay_ms:100") and FREED_PAGES_KEPT not in conf
