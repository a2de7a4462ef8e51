"""The Dagster UI over a home built by the CLI, seen through Debian's Chromium (headless, via playwright).

The job page must list the runs `lakehouse materialize` started, and the silver telemetry asset must show
its materialized partitions: CLI runs are runs of the code location, not anonymous in-process runs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_converge import LAKEHOUSE, _env, lakehouse

pytestmark = [pytest.mark.integration, pytest.mark.soak]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def built_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("ui") / "home"
    for args in (("generate", "--enterprises", "3", "--days", "2", "--seed", "5"), ("materialize",)):
        done = lakehouse(home, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    return home


@pytest.fixture(scope="module")
def ui(built_home):
    """`lakehouse ui` on a free loopback port, stopped (its whole process group) afterwards."""
    port = free_port()
    log = open(built_home / "ui.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [LAKEHOUSE, "ui", "--port", str(port)],
        env=_env(built_home),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the UI did not start: {(built_home / 'ui.log').read_text()[-2000:]}")
                time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `make chromium` (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def cli_runs(home: Path, job: str) -> list[str]:
    from dagster import DagsterInstance, RunsFilter

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        return [r.run_id for r in instance.get_runs(RunsFilter(job_name=job))]


def test_the_job_page_lists_the_runs_the_cli_started(ui, browser, built_home):
    runs = cli_runs(built_home, "daily_job")
    assert len(runs) == 2
    page = browser.new_page()
    page.goto(f"{ui}/locations/lakehouse/jobs/daily_job/runs", timeout=120_000)
    for run_id in runs:
        page.get_by_text(run_id[:8], exact=True).first.wait_for(timeout=120_000)
    page.close()


def test_silver_telemetry_shows_its_materialized_partitions(ui, browser):
    page = browser.new_page()
    page.goto(f"{ui}/assets/silver/telemetry?view=partitions", timeout=120_000)
    page.get_by_text("Materialized (2)").first.wait_for(timeout=120_000)
    page.close()


def test_opening_the_ui_starts_nothing_materialize_already_did(ui, built_home):
    log = built_home / "ui.log"
    deadline = time.monotonic() + 300
    while "Sensor landing_sensor skipped" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(2)
    assert len(cli_runs(built_home, "ingest_job")) == 1
    assert len(cli_runs(built_home, "daily_job")) == 2
