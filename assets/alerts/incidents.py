"""Incidents detected from the lake's own tables: one key per thing someone has to look at.

Plain functions over frames (no Dagster). An incident is active while its condition holds; the alert
state machine (assets/alerts/notify.py) raises it once and resolves it when it is no longer detected.
Bodies name rules, tables, counts and file names, never a personal column (grade-2 data stays in silver).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from warehouse.registry import FEED_STATUS, LANDING_FILES, QUALITY_RESULTS, SYNC_LEDGER
from warehouse.storage import Lake

KINDS = (
    "check_failed",
    "run_failed",
    "feed_stale",
    "files_rejected",
    "sync_failed",
    "sync_overdue",
    "sync_held",
)


@dataclass(frozen=True)
class Incident:
    key: str
    kind: str
    severity: str  # error | warn
    title: str
    lines: tuple[str, ...] = ()

    @classmethod
    def of(cls, kind: str, about: tuple[str, ...], severity: str, title: str, *lines: str) -> Incident:
        """An incident of `kind` about one thing: its key is the kind and that thing, so the same thing
        detected again is the same incident."""
        return cls(":".join((kind, *about)), kind, severity, title, lines)


def failed_checks(results: pl.DataFrame) -> list[Incident]:
    """A blocking (error-severity) rule that failed in its latest evaluation of a table partition."""
    if results.is_empty():
        return []
    latest = (
        results.sort("checked_at")
        .group_by("table_name", "partition", "rule_id", "kind", maintain_order=True)
        .last()
        .filter((pl.col("severity") == "error") & ~pl.col("passed"))
        .sort("table_name", "partition", "rule_id")
    )
    return [
        Incident.of(
            "check_failed",
            (r["table_name"], r["partition"], r["rule_id"]),
            "error",
            f"Blocking check {r['rule_id']} failed on {r['table_name']} {r['partition']}",
            f"rule: {r['rule_id']} ({r['kind']})",
            f"failed: {r['failed']:,} of {r['evaluated']:,} rows (pass rate {r['pass_rate']:.2%})",
            f"run: {r['run_id']}",
        )
        for r in latest.iter_rows(named=True)
    ]


def rejected_files(files: pl.DataFrame) -> list[Incident]:
    """A rejected landing file, until a good file is ingested under the same path (a corrected re-delivery)."""
    if files.is_empty():
        return []
    rejected = files.filter(pl.col("status") == "rejected")
    fixed = (
        files.filter(pl.col("status") == "ingested").group_by("source_file").agg(pl.col("ingested_at").max())
    )
    open_ = (
        rejected.join(fixed, on="source_file", how="left", suffix="_fix")
        .filter(pl.col("ingested_at_fix").is_null() | (pl.col("ingested_at_fix") < pl.col("ingested_at")))
        .sort("source_file", "content_hash")
    )
    return [
        Incident.of(
            "files_rejected",
            (r["source_file"], r["content_hash"][:12]),
            "warn",
            f"Landing file rejected: {r['source_file']}",
            f"reason: {r['reason']}",
            f"size: {r['size_bytes']:,} bytes, landed {r['landing_date']}",
            "moved to landing/rejected/ (a .reason file beside it)",
        )
        for r in open_.iter_rows(named=True)
    ]


def sync_problems(ledger: pl.DataFrame, *, now: dt.datetime, overdue_after: dt.timedelta) -> list[Incident]:
    """Per node, channel and period, the latest batch: failed, sent/pending without acknowledgement too
    long, or a restatement held (the node keeps figures the province no longer has). The key names the
    node and channel: the same day failing at two nodes is two incidents, each resolved by its own node."""
    if ledger.is_empty():
        return []
    target = [c for c in ("node", "channel") if c in ledger.columns]
    latest = ledger.sort("version").group_by([*target, "period"], maintain_order=True).last().sort("period")
    out = []
    for r in latest.iter_rows(named=True):
        about = (r["period"], f"{r.get('channel') or 'national'}@{r.get('node') or '-'}")
        node = f"node: {r.get('node') or '-'} (channel {r.get('channel') or 'national'})"
        batch = f"batch: {r['batch_id']} (version {r['version']}, {r['attempts']} attempts)"
        since = r.get("sent_at")
        if r["status"] == "failed":
            title = f"Sync of {r['period']} to the national center failed"
            out.append(
                Incident.of(
                    "sync_failed", about, "error", title, node, batch, f"last error: {r['message'] or '-'}"
                )
            )
        elif r["status"] == "held":
            title = f"Restatement of {r['period']} held: the node keeps version {r['version'] - 1}"
            out.append(Incident.of("sync_held", about, "warn", title, node, f"reason: {r['message'] or '-'}"))
        elif r["status"] in ("pending", "sent") and (since is None or now - since > overdue_after):
            title = f"Sync of {r['period']} overdue: {r['status']}, not acknowledged"
            last = f"last send: {since.isoformat() if since else 'never'}; overdue after {overdue_after}"
            out.append(Incident.of("sync_overdue", about, "warn", title, node, batch, last))
    return out


def stale_feeds(feed_status: pl.DataFrame) -> list[Incident]:
    """An enterprise feed that is late or silent (catalog.feed_status)."""
    if feed_status.is_empty():
        return []
    stale = feed_status.filter(pl.col("status") != "on_time").sort("uscc", "source")
    return [
        Incident.of(
            "feed_stale",
            (r["source"], r["uscc"]),
            "warn",
            f"Feed {r['source']} of {r['uscc']} is {r['status']}",
            f"last reading: {r['last_reading_at'].isoformat() if r['last_reading_at'] else 'none'}",
            f"lateness: {r['lateness_minutes']:.0f} min (cadence {r['cadence_minutes']:.0f} min)",
        )
        for r in stale.iter_rows(named=True)
    ]


def failed_runs(latest_runs: list[tuple[str, str, str]]) -> list[Incident]:
    """(job, status, run_id) of each job's latest finished run: a job whose latest run failed."""
    return [failed_run(job, run_id) for job, status, run_id in latest_runs if status == "FAILURE"]


def failed_run(job: str, run_id: str, error: str | None = None) -> Incident:
    """One failed Dagster run, keyed by job: a later successful run of the job resolves it."""
    lines = [f"run: {run_id}"]
    if error:
        lines.append(f"error: {error.splitlines()[0][:300]}")
    return Incident.of("run_failed", (job,), "error", f"Run of {job} failed", *lines)


# Kinds detected from tables: their open incidents resolve when a table scan no longer finds them.
TABLE_KINDS = ("check_failed", "files_rejected", "sync_failed", "sync_overdue", "sync_held", "feed_stale")


def lake_incidents(lake: Lake, *, now: dt.datetime, sync_overdue: dt.timedelta) -> list[Incident]:
    """Every incident the catalog tables show now (quality results, landing ledger, sync ledger, feeds)."""
    return [
        *failed_checks(lake.read(QUALITY_RESULTS)),
        *rejected_files(lake.read(LANDING_FILES)),
        *sync_problems(lake.read(SYNC_LEDGER), now=now, overdue_after=sync_overdue),
        *stale_feeds(lake.read(FEED_STATUS)),
    ]
