"""One small province, generated and materialized through the CLI once per test session, for the e2e
modules that need a built home: each copies it (a moved home is supported) instead of building its own.
Under pytest-xdist the first worker builds it and the others wait on a file lock."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
PROVINCE = ("--enterprises", "6", "--days", "2", "--seed", "3")


def _lakehouse(home: Path, *args: str) -> None:
    env = os.environ | {"LAKEHOUSE_HOME": str(home), "GX_ANALYTICS_ENABLED": "false"}
    for name in ("LAKEHOUSE_WAREHOUSE_DB", "DAGSTER_HOME"):
        env.pop(name, None)
    proc = subprocess.run([LAKEHOUSE, *args], env=env, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise AssertionError(
            f"lakehouse {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )


@pytest.fixture(scope="session")
def built_province(tmp_path_factory, worker_id: str) -> Path:
    base = tmp_path_factory.getbasetemp()
    root = base.parent if worker_id != "master" else base
    template = root / "built-province"
    with FileLock(str(root / "built-province.lock")):
        if not (template / ".built").exists():
            shutil.rmtree(template, ignore_errors=True)
            _lakehouse(template, "generate", *PROVINCE)
            _lakehouse(template, "materialize")
            (template / ".built").touch()
    return template


@pytest.fixture(scope="module")
def province_copy(built_province, tmp_path_factory, request) -> Path:
    """A private copy of the built province for one module (its tests may change it)."""
    home = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    shutil.copytree(
        built_province, home, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".built", "*.lock", "logs")
    )
    return home
