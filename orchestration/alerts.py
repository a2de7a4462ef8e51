"""Alert sensors: thin wiring of assets/alerts (detection, state machine, channels) into Dagster.

Running by default only when a channel is configured (LAKEHOUSE_ALERT_WEBHOOK_URL or _SMTP_HOST/_TO);
otherwise they are stopped and skip.
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from assets.alerts.incidents import TABLE_KINDS, failed_run, failed_runs, lake_incidents
from assets.alerts.notify import run_alerts
from warehouse.settings import load_alert_settings, settings

_STATUS = DefaultSensorStatus.RUNNING if load_alert_settings().channels else DefaultSensorStatus.STOPPED
_FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]


def latest_runs(instance) -> list[tuple[str, str, str]]:
    """(job, status, run_id) of each job's latest finished run among the last 200."""
    seen: dict[str, tuple[str, str, str]] = {}
    for run in instance.get_runs(filters=RunsFilter(statuses=_FINISHED), limit=200):  # newest first
        seen.setdefault(run.job_name, (run.job_name, run.status.value, run.run_id))
    return list(seen.values())


@sensor(minimum_interval_seconds=300, default_status=_STATUS)
def alert_sensor(context: SensorEvaluationContext):
    """Raise, resolve and deliver alerts for what the catalog tables and the run history show now."""
    alerts = load_alert_settings()
    if not alerts.channels:
        return SkipReason(
            "no alert channel configured (LAKEHOUSE_ALERT_WEBHOOK_URL / LAKEHOUSE_ALERT_SMTP_*)"
        )
    now = dt.datetime.now(dt.UTC)
    lake = settings().open_lake()
    active = [
        *lake_incidents(lake, now=now, sync_overdue=alerts.sync_overdue),
        *failed_runs(latest_runs(context.instance)),
    ]
    report = run_alerts(
        lake,
        alerts,
        active,
        scope=(*TABLE_KINDS, "run_failed"),
        run_id=f"sensor:{context.cursor or 'alerts'}",
        now=now,
    )
    return SkipReason(report.summary())


@run_failure_sensor(minimum_interval_seconds=30, default_status=_STATUS, monitor_all_code_locations=False)
def run_failure_alert(context: RunFailureSensorContext):
    """A failed run alerts at once; the alert sensor resolves it after the job's next successful run."""
    alerts = load_alert_settings()
    if not alerts.channels:
        return SkipReason("no alert channel configured")
    run = context.dagster_run
    error = context.failure_event.message if context.failure_event else None
    incident = failed_run(run.job_name, run.run_id, error)
    run_alerts(settings().open_lake(), alerts, [incident], scope=(), run_id=run.run_id)
