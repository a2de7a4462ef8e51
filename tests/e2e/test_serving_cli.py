"""Serving as analysts meet it: sealed `lakehouse sql`, sessions held open through a run, a moved home.

Separate processes over one LAKEHOUSE_HOME, as a user runs them. The tests run in file order: the last
one moves the home away.
"""

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli import run as cli
from tests.unit.test_serving import HOLDER  # a process holding the role files open, as DBeaver would


def run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return cli(home, *args, check=check, timeout=1800)  # a refresh of every role file may take long


@pytest.fixture(scope="module")
def home(province_copy):
    """A copy of the session's built province (tests/e2e/conftest.py)."""
    return province_copy


def sql_json(home: Path, query: str, *extra: str) -> list[dict]:
    return json.loads(run(home, "sql", query, "--format", "json", *extra).stdout)


def test_analyst_sql_refuses_files_attach_copy_extensions_and_settings_in_one_line(home, tmp_path):
    enterprise = home / "lake" / "silver" / "enterprise"
    parquet = next(enterprise.glob("*.parquet"))
    refused = {
        f"select legal_representative_id from delta_scan('{enterprise}')": "",
        f"select legal_representative_id from read_parquet('{parquet}')": "Permission",
        "select * from read_csv('/etc/passwd')": "Permission",
        f"attach '{tmp_path / 'x.duckdb'}' as x": "Permission",
        f"copy (select * from silver.enterprise) to '{tmp_path / 'out.csv'}'": "Permission",
        "install delta": "Permission",
        "load delta": "Permission",
        "set enable_external_access = true": "locked",
        "reset enable_external_access": "locked",
        f"set allowed_directories = ['{home}']": "locked",
        "select legal_representative_id from silver.enterprise": "legal_representative_id",
    }
    for query, says in refused.items():
        proc = run(home, "sql", query, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, (query, out)
        assert "Traceback" not in out and len(out.strip().splitlines()) == 1, (query, out)
        assert says in out, (query, out)
    assert list(tmp_path.iterdir()) == []  # nothing written
    steward = sql_json(home, "select legal_representative_id from silver.enterprise", "--role", "steward")
    assert steward and all("********" in (r["legal_representative_id"] or "********") for r in steward)


def test_sql_format_is_validated_and_values_are_never_markup(home):
    bad = run(home, "sql", "select 1", "--format", "xml", check=False)
    assert bad.returncode == 2 and len(bad.stdout.strip().splitlines()) == 1 and "xml" in bad.stdout
    table = run(home, "sql", "select '[red]x[/red]' as v, '[bold]y' as w").stdout
    assert "[red]x[/red]" in table and "[bold]y" in table


def test_analyst_sessions_held_open_on_every_role_file_never_fail_a_materialize(home, tmp_path):
    files = [str(home / "warehouse.duckdb"), str(home / "warehouse_steward.duckdb")]
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *files], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout.readline().strip() == "[2, 2]"
        later = tmp_path / "later"  # a third day of the same province lands
        run(later, "generate", "--enterprises", "6", "--days", "1", "--start", "2026-11-03", "--seed", "3")
        shutil.copytree(later / "landing" / "telemetry", home / "landing" / "telemetry" / "later")
        run(home, "materialize")  # exits 0, or run() raises
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "[2, 2]"  # open sessions keep their snapshot
    finally:
        reader.kill()
        reader.wait()
    for role in ("analyst", "steward"):
        days = sql_json(home, "select count(distinct day) as n from theme.energy_daily", "--role", role)
        assert days == [{"n": 3}]  # a new session sees the new data
        assert (
            sql_json(home, "select count(distinct day) as n from mart.energy_city_industry_day")[0]["n"] == 3
        )


def test_a_moved_home_reads_its_own_tables_through_sql_the_marts_and_the_sync(home, tmp_path):
    query = "select round(sum(energy_tce), 6) as tce, count(*) as n from theme.energy_daily"
    mart_query = "select round(sum(energy_tce), 6) as tce from mart.energy_city_industry_day"
    steward = ("--role", "steward")  # every role's file, not only the analysts'
    before, mart_before = sql_json(home, query), sql_json(home, mart_query)
    steward_before = sql_json(home, query, *steward), sql_json(home, mart_query, *steward)
    assert steward_before == (before, mart_before)
    cells_before = sync_cells(home)
    moved = tmp_path / "moved"
    shutil.move(home, moved)
    # another home now sits where the old one was, with other figures: none of them may show through
    shutil.copytree(moved / "lake", home / "lake")
    shutil.rmtree(home / "lake" / "theme" / "energy_daily")
    assert sql_json(moved, query) == before and sql_json(moved, mart_query) == mart_before
    assert (sql_json(moved, query, *steward), sql_json(moved, mart_query, *steward)) == steward_before
    assert sync_cells(moved).equals(cells_before)
    run(moved, "materialize")
    assert sql_json(moved, query) == before and sql_json(moved, mart_query) == mart_before
    assert (sql_json(moved, query, *steward), sql_json(moved, mart_query, *steward)) == steward_before


def sync_cells(home: Path):
    """What the national sync aggregates for a day, opened the sync's way (refreshed from this lake)."""
    from assets.sync.aggregate import aggregate_day
    from warehouse.serving.session import open_role
    from warehouse.storage import Lake

    con = open_role(home / "warehouse.duckdb", lake=Lake(home / "lake"))
    try:
        cells = aggregate_day(con, dt.date(2026, 11, 1))
    finally:
        con.close()
    assert cells.height > 0
    return cells
