"""A small simulated province materialized through real Dagster runs in a temporary LAKEHOUSE_HOME."""

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from warehouse.settings import settings

START = dt.date(2026, 11, 1)


def use_home(home: Path) -> None:
    """Point this process at another LAKEHOUSE_HOME (settings are read once per process otherwise)."""
    os.environ["LAKEHOUSE_HOME"] = str(home)
    os.environ.pop("LAKEHOUSE_WAREHOUSE_DB", None)
    settings.cache_clear()
    settings().prepare()


def make_province(
    home: Path, *, enterprises: int = 16, days: int = 3, defect_rate: float = 0.02, seed: int = 7
) -> dict:
    from simulator import generate

    use_home(home)
    s = settings()
    return generate(
        s.landing,
        s.manifest,
        enterprises=enterprises,
        days=days,
        start=START,
        seed=seed,
        defect_rate=defect_rate,
    )


@pytest.fixture(scope="session")
def province(tmp_path_factory):
    """Generated and materialized once for the read-only integration tests."""
    from orchestration.runs import run_pending

    home = tmp_path_factory.mktemp("lakehouse")
    manifest = make_province(home)
    summary = run_pending()
    return {"home": home, "manifest": manifest, "summary": summary}


@pytest.fixture
def home(province):
    use_home(province["home"])
    return province["home"]


def sql(query: str):
    from warehouse.serving.session import connect

    con = connect(settings().warehouse_db, read_only=True)
    try:
        return con.sql(query).pl()
    finally:
        con.close()


def truth(home: Path) -> dict:
    return json.loads((home / "simulator" / "manifest.json").read_text())
