"""Every crash converges: a `lakehouse materialize` killed with SIGKILL, then run again, leaves every table
equal (per partition: rows and content checksum) to an uninterrupted run over the same landing files."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.lake_snapshot import differences, snapshot, tables_differing

pytestmark = pytest.mark.integration

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
PROVINCE = ["--enterprises", "4", "--days", "2", "--start", "2026-11-01", "--seed", "11"]


def _env(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    return (
        env
        | {"LAKEHOUSE_HOME": str(home), "GX_ANALYTICS_ENABLED": "false", "DAGSTER_DISABLE_TELEMETRY": "1"}
        | extra
    )


def lakehouse(home: Path, *args: str, timeout: float = 1800, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LAKEHOUSE, *args], env=_env(home, **env), capture_output=True, text=True, timeout=timeout
    )


def copy_home(template: Path, target: Path) -> Path:
    """Same landing files with the same modification times (landing dates), a fresh lake and instance."""
    shutil.copytree(template, target, copy_function=shutil.copy2)
    return target


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("converge") / "template"
    done = lakehouse(home, "generate", *PROVINCE)
    assert done.returncode == 0, done.stderr
    return home


@pytest.fixture(scope="module")
def reference(template, tmp_path_factory) -> dict:
    """An uninterrupted run: what every interrupted run must converge to."""
    home = copy_home(template, tmp_path_factory.mktemp("converge") / "reference")
    t0 = time.perf_counter()
    done = lakehouse(home, "materialize")
    assert done.returncode == 0, done.stdout + done.stderr
    seconds = time.perf_counter() - t0
    # The interrupted home runs `materialize` twice; so does the reference (the second one builds nothing).
    # It matters for the ingest run's own checks of the day (bronze no_schema_drift / files_readable are
    # recorded per ingest run under today's partition: a no-op ingest records 0 evaluated).
    settled = lakehouse(home, "materialize")
    assert settled.returncode == 0 and "built 0 day(s)" in settled.stdout, settled.stdout + settled.stderr
    return {"home": home, "snapshot": snapshot(home / "lake"), "seconds": seconds}


# In soak for its run time (three `materialize` runs); it passes since a re-run with nothing new commits
# nothing (record columns) and serving refreshes once per run.
@pytest.mark.soak
def test_a_run_killed_after_silver_commits_is_rebuilt_whole_by_the_next_run(template, reference, tmp_path):
    home = copy_home(template, tmp_path / "killed")
    killed = lakehouse(home, "materialize", LAKEHOUSE_CRASH_AFTER="silver/telemetry")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    from warehouse.registry import DAY_BUILD, ENERGY_DAILY, INDUSTRY_LIBRARY_TABLES, SILVER_TELEMETRY
    from warehouse.storage import Lake

    lake = Lake(home / "lake")
    # Both days are one range run (assets/day_range.py): the step yields silver's materializations once
    # every day of the range is committed (themes too), and the kill lands before any day is recorded.
    assert lake.partitions(SILVER_TELEMETRY), "the kill must land after silver's commit"
    assert lake.partitions(ENERGY_DAILY) and not lake.partitions(next(iter(INDUSTRY_LIBRARY_TABLES.values())))
    assert lake.read(DAY_BUILD).is_empty()

    again = lakehouse(home, "materialize")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "built 2 day(s)" in again.stdout
    diff = differences(reference["snapshot"], snapshot(home / "lake"))
    assert diff == [], "\n".join(diff)

    settled = lakehouse(home, "materialize")
    assert "built 0 day(s)" in settled.stdout


def kill_and_rerun(template: Path, reference: dict, home: Path, delay: float) -> dict:
    """One trial: SIGKILL `lakehouse materialize` after `delay` seconds (if still running), run it again."""
    copy_home(template, home)
    proc = subprocess.Popen(
        [LAKEHOUSE, "materialize"], env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    again = lakehouse(home, "materialize")
    got = snapshot(home / "lake")
    trial = {
        "delay": round(delay, 1),
        "killed": proc.returncode == -signal.SIGKILL,
        "rerun": again.returncode,
        "tables_differing": sorted(tables_differing(reference["snapshot"], got)),
        "differences": differences(reference["snapshot"], got)[:5],
    }
    shutil.rmtree(home, ignore_errors=True)
    if os.environ.get("LAKEHOUSE_SOAK_LOG"):  # progress of a long soak, one line per finished trial
        with open(os.environ["LAKEHOUSE_SOAK_LOG"], "a") as log:
            log.write(f"{home.name}: {trial}\n")
    return trial


@pytest.mark.soak
def test_twenty_random_kills_all_converge(template, reference, tmp_path):
    """SIGKILL at a random moment of the run (ingest, a day, the catalog), then run again: same lake.

    LAKEHOUSE_SOAK_TRIALS (default 20), LAKEHOUSE_SOAK_SEED and LAKEHOUSE_SOAK_JOBS (trials at once).
    """
    rng = random.Random(int(os.environ.get("LAKEHOUSE_SOAK_SEED", "12")))
    trials = int(os.environ.get("LAKEHOUSE_SOAK_TRIALS", "20"))
    delays = [rng.uniform(0.5, reference["seconds"]) for _ in range(trials)]
    with ThreadPoolExecutor(max_workers=int(os.environ.get("LAKEHOUSE_SOAK_JOBS", "1"))) as pool:
        results = list(
            pool.map(
                lambda n: kill_and_rerun(template, reference, tmp_path / f"trial-{n}", delays[n]),
                range(trials),
            )
        )
    for n, trial in enumerate(results):
        print(f"trial {n}: {trial}")
    print(
        f"reference run {reference['seconds']:.1f}s; killed mid-run in {sum(t['killed'] for t in results)}/{trials}"
    )
    failed = [t for t in results if t["rerun"] != 0 or t["tables_differing"]]
    assert not failed, failed
