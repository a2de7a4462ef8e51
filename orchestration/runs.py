"""The run driver: every run the CLI starts is a full run of the `lakehouse` code location.

`lakehouse ui` and the daemon load the code location from the workspace file this module writes
(`$DAGSTER_HOME/workspace.yaml`: module `orchestration.definitions`, location `lakehouse`). Runs started
here are created with that location's remote job origin (the same origin, hence the same repository and
code-location tags, as a run launched from the UI), then executed in this process with `execute_run`:
they show on the job pages and the timeline like any other run, without a gRPC server or a process per
run (the demo's per-day cost).

What is pending (dirty days, a stale catalog) is decided by `assets/build_record.py` from the lake; the
sensors ask the same functions. `materialize` also sets the sensors' cursors, so opening the UI starts
nothing that `materialize` has just done.

Crash injection for the convergence tests (never set in production): with
`LAKEHOUSE_CRASH_AFTER=<asset key>` (e.g. `silver/telemetry`) the process SIGKILLs itself right after
that asset's materialization event, i.e. after its Delta commits and before the next step starts.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus

from assets.day_range import RANGE_END_TAG, RANGE_START_TAG, day_ranges
from warehouse.settings import settings

DEFS_MODULE = "orchestration.definitions"
LOCATION_NAME = "lakehouse"
REPOSITORY_NAME = "__repository__"
CRASH_AFTER_ENV = "LAKEHOUSE_CRASH_AFTER"
# Runs are logged in full to the Dagster instance (see the UI); the terminal gets warnings only.
OnDay = Callable[[int, int, dt.date, bool], None]  # (i, of n, day, succeeded): progress of a day build
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def workspace_file(dagster_home: Path) -> Path:
    """Write (if changed) and return the workspace file the UI and the daemon load the code location from."""
    path = dagster_home / "workspace.yaml"
    text = (
        "# Written by orchestration/runs.py: the code location the CLI's runs belong to.\n"
        "load_from:\n"
        "  - python_module:\n"
        f"      module_name: {DEFS_MODULE}\n"
        f"      location_name: {LOCATION_NAME}\n"
        f"      executable_path: {sys.executable}\n"
    )
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def code_location_origin():
    """The origin `dagster dev -w workspace.yaml` gives the location (same fields, hence the same ids)."""
    from dagster._core.workspace.load import location_origin_from_module_name

    return location_origin_from_module_name(
        DEFS_MODULE, None, None, location_name=LOCATION_NAME, executable_path=sys.executable
    )


@dataclass(frozen=True)
class RunOutcome:
    job: str
    partition: str | None
    run_id: str
    success: bool


class RunDriver:
    """Creates and executes runs of the code location in this process, in the home's instance."""

    def __init__(self, instance: DagsterInstance | None = None) -> None:
        self.instance = instance or DagsterInstance.get()

    @cached_property
    def _location(self):
        """The code location loaded in process (snapshots, execution plans), once per driver."""
        from dagster._core.remote_origin import InProcessCodeLocationOrigin

        origin = InProcessCodeLocationOrigin(
            code_location_origin().loadable_target_origin, location_name=LOCATION_NAME
        )
        return origin.create_location(self.instance)

    @cached_property
    def _repository(self):
        return self._location.get_repository(REPOSITORY_NAME)

    def _remote_origin(self, job_name: str):
        from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin

        return RemoteJobOrigin(RemoteRepositoryOrigin(code_location_origin(), REPOSITORY_NAME), job_name)

    def run(
        self,
        job_name: str,
        partition: str | None = None,
        tags: dict | None = None,
        partition_range: tuple[str, str] | None = None,
    ) -> RunOutcome:
        """One run of `job_name` (one partition of it, or a range of partitions, if given), executed here;
        failures are returned."""
        from dagster._core.definitions.selector import JobSubsetSelector
        from dagster._utils.hosted_user_process import recon_job_from_origin

        remote_job = self._location.get_job(
            JobSubsetSelector(
                location_name=LOCATION_NAME,
                repository_name=REPOSITORY_NAME,
                job_name=job_name,
                op_selection=None,
            )
        )
        run_tags = dict(tags or {})
        if partition is not None:
            run_tags["dagster/partition"] = partition
        if partition_range is not None:  # as a single-run backfill of the range tags it
            run_tags[RANGE_START_TAG], run_tags[RANGE_END_TAG] = partition_range
            partition = "...".join(partition_range)
        plan = self._location.get_execution_plan(
            remote_job, QUIET_RUN, step_keys_to_execute=None, known_state=None, instance=self.instance
        )
        run = self.instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config=QUIET_RUN,
            resolved_op_selection=None,
            step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags={**remote_job.tags, **run_tags},
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=self._remote_origin(job_name),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=self._repository.asset_graph,
        )
        recon = recon_job_from_origin(remote_job.get_python_origin())
        self._execute(recon, run)
        final = self.instance.get_run_by_id(run.run_id)
        success = final is not None and final.status == DagsterRunStatus.SUCCESS
        return RunOutcome(job_name, partition, run.run_id, success)

    def _execute(self, recon, run) -> None:
        from dagster._core.execution.api import execute_run_iterator

        crash_after = os.environ.get(CRASH_AFTER_ENV)
        for event in execute_run_iterator(recon, run, self.instance):
            if (
                crash_after
                and event.is_step_materialization
                and event.asset_key is not None
                and event.asset_key.to_user_string() == crash_after
            ):
                os.kill(os.getpid(), signal.SIGKILL)


def set_sensor_cursor(instance: DagsterInstance, sensor_name: str, cursor: str) -> None:
    """Store a sensor's cursor as the daemon keeps it (same selector), leaving its running status as declared."""
    from dagster._core.definitions.selector import InstigatorSelector
    from dagster._core.remote_origin import RemoteInstigatorOrigin, RemoteRepositoryOrigin
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        InstigatorType,
        SensorInstigatorData,
    )

    origin = RemoteInstigatorOrigin(
        RemoteRepositoryOrigin(code_location_origin(), REPOSITORY_NAME), sensor_name
    )
    selector_id = InstigatorSelector(
        location_name=LOCATION_NAME, repository_name=REPOSITORY_NAME, name=sensor_name
    ).get_id()
    state = instance.get_instigator_state(origin.get_id(), selector_id)
    if state is None:
        instance.add_instigator_state(
            InstigatorState(
                origin,
                InstigatorType.SENSOR,
                InstigatorStatus.DECLARED_IN_CODE,
                SensorInstigatorData(cursor=cursor),
            )
        )
        return
    data = state.instigator_data
    if isinstance(data, SensorInstigatorData):
        instance.update_instigator_state(state.with_data(data._replace(cursor=cursor)))
    else:
        instance.update_instigator_state(state.with_data(SensorInstigatorData(cursor=cursor)))


def record_outcome(summary: dict, outcome) -> None:
    summary["runs"].append((outcome.job, outcome.partition, outcome.run_id, outcome.success))
    if not outcome.success:
        summary["failed"].append((outcome.job, outcome.partition, outcome.run_id))


def run_days(driver: RunDriver, days: list[dt.date]) -> RunOutcome:
    """One daily_job run of consecutive days: of the day alone, or of the range (assets/day_range.py)."""
    if len(days) == 1:
        return driver.run("daily_job", partition=days[0].isoformat())
    return driver.run("daily_job", partition_range=(days[0].isoformat(), days[-1].isoformat()))


def days_built_by(run_id: str) -> set[dt.date]:
    """The days a run recorded in catalog.day_build: those it built completely."""
    import polars as pl

    from warehouse.registry import DAY_BUILD

    lake = settings().open_lake()
    if not lake.exists(DAY_BUILD):
        return set()
    return set(lake.read(DAY_BUILD).filter(pl.col("run_id") == run_id)["day"].to_list())


def build_days(days: list[dt.date], summary: dict, on_day: OnDay | None = None, driver=None) -> None:
    """daily_job runs over the days, consecutive ones together (at most LAKEHOUSE_DAYS_PER_RUN a run),
    then catalog_job if its inputs moved on: runs of the code location. Progress and failures per day."""
    from orchestration.jobs import catalog_pending

    driver = driver or RunDriver()
    done = 0
    for chunk in day_ranges(days, settings().days_per_run):
        outcome = run_days(driver, chunk)
        summary["runs"].append((outcome.job, outcome.partition, outcome.run_id, outcome.success))
        built = days_built_by(outcome.run_id)
        for day in chunk:
            done += 1
            if day not in built:
                summary["failed"].append((outcome.job, day.isoformat(), outcome.run_id))
            if on_day is not None:
                on_day(done, len(days), day, day in built)
    t0 = time.perf_counter()
    if catalog_pending():
        record_outcome(summary, driver.run("catalog_job"))
    summary["catalog_seconds"] = time.perf_counter() - t0


def run_pending(on_day: OnDay | None = None) -> dict:
    """Ingest new landing files, build every day not completely built, refresh a stale catalog.

    Every run is a run of the `lakehouse` code location in the home's instance (orchestration/runs.py);
    afterwards the landing sensor's cursor is set, so the daemon does not redo the ingest.
    """
    from orchestration.jobs import dirty_days, landing_fingerprint, landing_sensor

    s = settings()
    s.prepare()
    driver = RunDriver()
    summary: dict = {"runs": [], "failed": []}
    t0 = time.perf_counter()
    ingest = driver.run("ingest_job")
    record_outcome(summary, ingest)
    fingerprint = landing_fingerprint()
    if ingest.success and fingerprint is not None:
        set_sensor_cursor(driver.instance, landing_sensor.name, fingerprint)
    summary["ingest_seconds"] = time.perf_counter() - t0
    days = dirty_days()
    t1 = time.perf_counter()
    build_days(days, summary, on_day, driver)
    summary["days"] = [d.isoformat() for d in days]
    summary["daily_seconds"] = time.perf_counter() - t1 - summary["catalog_seconds"]
    return summary
