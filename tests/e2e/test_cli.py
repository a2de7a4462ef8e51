"""The `lakehouse` CLI end to end, as a user runs it: separate processes over one LAKEHOUSE_HOME."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def run(home: Path, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """`lakehouse ARGS` over `home` as a user runs it (a fresh environment apart from the home)."""
    env = os.environ | {"LAKEHOUSE_HOME": str(home), "GX_ANALYTICS_ENABLED": "false"}
    env.pop("LAKEHOUSE_WAREHOUSE_DB", None)
    env.pop("DAGSTER_HOME", None)
    proc = subprocess.run([LAKEHOUSE, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"lakehouse {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def home(province_copy):
    """A copy of the session's built province (tests/e2e/conftest.py)."""
    return province_copy


def test_sql_answers_in_table_csv_and_json(home):
    out = run(home, "sql", "select count(*) as n from silver.telemetry", "--format", "json").stdout
    assert json.loads(out)[0]["n"] > 0
    csv = run(home, "sql", "select count(*) as n from theme.energy_daily", "--format", "csv").stdout
    assert csv.splitlines()[0] == "n" and int(csv.splitlines()[1]) > 0
    table = run(home, "sql", "select reason, count(*) from quarantine.telemetry group by 1").stdout
    assert "reason" in table


def test_bad_sql_is_a_clear_error_not_a_traceback(home):
    proc = run(home, "sql", "select * from silver.nope", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert "nope" in proc.stdout


def test_quarantine_list_and_replay(home):
    listed = run(home, "quarantine", "list", "--format", "json").stdout
    rows = json.loads(listed)
    assert rows and {"day", "reason", "records"} <= set(rows[0])
    replay = run(home, "quarantine", "replay", "--reason", "bad_value").stdout
    assert "replayed" in replay
    rec = json.loads(
        run(
            home,
            "sql",
            "select count(*) as bad from catalog.reconciliation "
            "where landed <> clean + quarantined + duplicates",
            "--format",
            "json",
        ).stdout
    )
    assert rec[0]["bad"] == 0


def test_materialize_again_builds_nothing(home):
    out = run(home, "materialize").stdout
    assert "built 0 day(s)" in out


def test_warehouse_opens_in_plain_duckdb_without_project_code(home):
    script = (
        "import duckdb, duckdb_extension_delta, pathlib, sys\n"
        "ext = pathlib.Path(duckdb_extension_delta.__file__).parent / 'extensions' / f'v{duckdb.__version__}' / 'delta.duckdb_extension'\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "con.execute(f\"LOAD '{ext}'\")\n"
        "print(con.sql('select sum(energy_tce) from theme.energy_daily').fetchone()[0])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(home / "warehouse.duckdb")],
        capture_output=True,
        text=True,
        cwd="/",
        env={"PATH": os.environ["PATH"]},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout) > 0


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("quarantine", "list", "--day", "2026-13-01"), 2, "--day"),
        (("quarantine", "list", "--table", "quarantine.nope"), 2, "unknown quarantine table"),
        (("quarantine", "replay", "--day", "yesterday"), 2, "--day"),
        (("materialize", "--no-such-option"), 2, "No such option"),
        (("generate", "--enterprises", "many"), 2, "--enterprises"),
        (("quarantine", "list"), 1, "no warehouse"),
        (("catalog", "list"), 2, "no resource directory"),
    ],
)
def test_every_cli_error_is_one_line_with_usage_2_and_failure_1(tmp_path, args, code, says):
    proc = run(tmp_path / "empty", *args, check=False)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == code, output
    assert "Traceback" not in output and len(output.splitlines()) == 1, output
    assert says in output


def test_materialize_runs_belong_to_the_code_location_and_set_the_landing_cursor(home):
    from dagster import DagsterInstance, RunsFilter

    from orchestration.runs import LOCATION_NAME, REPOSITORY_NAME, workspace_file

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs(RunsFilter(job_name="daily_job"))
        assert runs
        for r in runs:
            origin = r.remote_job_origin
            assert origin is not None and origin.location_name == LOCATION_NAME
            assert origin.repository_origin.repository_name == REPOSITORY_NAME
            assert r.tags.get("dagster/code_location") == LOCATION_NAME
        states = {s.name: s for s in instance.all_instigator_state()}
        assert states["landing_sensor"].instigator_data.cursor
    assert f"location_name: {LOCATION_NAME}" in workspace_file(home / "dagster").read_text()
