"""Sync one local day to one node of a channel (the national center or an industry node): release check and build
(assets/sync/prepare.py), ledger, deliver, ledger; and a day to several nodes (`sync_day_to`).

Plain functions over a Lake, a DuckDB connection to the warehouse and an httpx client, so the Dagster
asset, the CLI and the tests all run the same steps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
import httpx
import polars as pl

from assets.sync import ledger, noise
from assets.sync.batch import make_batch, noise_groups
from assets.sync.channels import channel
from assets.sync.measures import MEASURES, Measure
from assets.sync.prepare import Built, build, release_check
from assets.sync.release import ReleaseHeld
from assets.sync.transport import Delivery, NodeConfig, NodeRejected, NodeUnavailable, deliver
from assets.theme.plan import DAYS_SYNCED, days_synced
from warehouse.catalog.directory import refresh_datasets
from warehouse.registry import CATALOG_DATASET, ENERGY_DAILY, PLAN_PROGRESS, SYNC_LEDGER
from warehouse.settings import SyncPrivacy
from warehouse.storage import Lake

CONFLICTS = ("idempotency_conflict", "version_conflict")


@dataclass(frozen=True)
class SyncOutcome:
    period: str
    status: str  # acknowledged | unchanged | skipped | held | failed
    version: int | None = None
    batch_id: str | None = None
    rows: int = 0
    bytes: int = 0
    cells_suppressed: int = 0
    attempts: int = 0
    latency_ms: float = 0.0
    receipt_id: str | None = None
    restatement: bool = False
    duplicate: bool = False  # the node already held the batch (a recovered or repeated delivery)
    message: str | None = None
    node_id: str | None = None  # from the node's receipt
    cells_restated: int = 0  # withheld because of the versions the node holds
    cells_noisy: int = 0  # withheld entries carrying a differentially private estimate
    cells_budget_refused: int = 0  # withheld entries left without noise: an enterprise's budget is spent
    channel: str = ledger.DEFAULT_CHANNEL
    node: str = ""  # the node's URL

    @property
    def sent(self) -> bool:
        return self.status == "acknowledged"

    def metadata(self) -> dict:
        """For the Dagster UI."""
        return {
            "channel": self.channel,
            "status": self.status,
            "batches_sent": int(self.sent),
            "rows": self.rows,
            "bytes": self.bytes,
            "latency_ms": round(self.latency_ms, 1),
            "cells_suppressed": self.cells_suppressed,
            "attempts": self.attempts,
            "version": self.version or 0,
            "batch_id": self.batch_id or "",
            "node_receipt": self.receipt_id or "",
            "restatement": self.restatement,
            "duplicate": self.duplicate,
            "node_id": self.node_id or "",
            "cells_withheld_for_restatement": self.cells_restated,
            "cells_noisy": self.cells_noisy,
            "cells_budget_refused": self.cells_budget_refused,
            "message": self.message or "",
        }


def _send(
    lake: Lake,
    client: httpx.Client,
    node: NodeConfig,
    built: Built,
    *,
    period: str,
    version: int,
    prior_attempts: int,
    restatement: bool,
    run_id: str,
    note: str | None,
    retry_conflict: bool = True,
) -> SyncOutcome:
    """Ledger `pending`, deliver, ledger `acknowledged` (or `failed`). If the node holds other figures under
    this version, or a higher version, the figures go out once more above it: the node's current version
    must be the province's."""
    batch = make_batch(
        province=node.province,
        period=period,
        version=version,
        payload=built.payload,
        rows=built.release.frame.height,
        cells_suppressed=built.release.cells_suppressed,
        source_versions=built.source_versions,
        channel=node.channel,
        noise=noise_groups(built.release.frame, built.measures),
        epsilon=built.epsilon,
        measures=built.measures,
    )
    sending = ledger.Sending(
        batch,
        node.url,
        built.release.frame.height,
        built.release.cells_suppressed,
        channel=node.channel,
        released=built.release.held,
    )
    out = {
        "channel": node.channel,
        "node": node.url,
        "period": period,
        "version": version,
        "batch_id": batch.batch_id,
        "rows": sending.rows,
        "bytes": len(built.payload),
        "cells_suppressed": sending.cells_suppressed,
        "restatement": restatement,
        "cells_restated": built.release.restatement,
        "cells_noisy": built.noised.noisy_cells if built.noised else 0,
        "cells_budget_refused": len(built.noised.refused) if built.noised else 0,
    }

    def count_attempt(n: int) -> None:  # ahead of the request: a kill -9 mid-attempt never undercounts
        ledger.record_pending(lake, sending, attempts=prior_attempts + n, run_id=run_id, message=note)

    def failed(attempts: int, message: str) -> SyncOutcome:  # in the ledger first, then told
        ledger.record_failed(lake, sending, attempts=attempts, message=message, run_id=run_id)
        return SyncOutcome(**out, status="failed", attempts=attempts, message=message)

    def send_again(above: int, why: str) -> SyncOutcome:  # once, as a new version; never a third time
        return _send(
            lake,
            client,
            node,
            built,
            period=period,
            version=above,
            prior_attempts=0,
            restatement=restatement,
            run_id=run_id,
            retry_conflict=False,
            note=why,
        )

    try:
        delivery: Delivery = deliver(client, node, batch, on_attempt=count_attempt)
    except NodeRejected as exc:
        refused = failed(prior_attempts + exc.attempts, str(exc))
        if exc.code in CONFLICTS and retry_conflict:
            # The node holds other figures under this version (the ledger was lost or rolled back): go above.
            above = max(version, int(exc.body.get("latest_version") or 0)) + 1
            return send_again(
                above, f"version {version} conflicted at the node ({exc.code}); sent as {above}"
            )
        return refused
    except NodeUnavailable as exc:
        return failed(prior_attempts + exc.attempts, str(exc))
    receipt = delivery.receipt
    attempts = prior_attempts + delivery.attempts
    if receipt.get("batch_id") != batch.batch_id or receipt.get("payload_sha256") != batch.payload_sha256:
        return failed(
            attempts, f"node receipt {receipt.get('receipt_id')} does not match batch {batch.batch_id}"
        )
    node_id = str(receipt.get("node_id") or ledger.DEFAULT_NODE_ID)
    ledger.record_acknowledged(
        lake,
        sending,
        attempts=attempts,
        receipt_id=receipt["receipt_id"],
        node_id=node_id,
        run_id=run_id,
        message=note,
    )
    latest = int(receipt.get("latest_version") or version)
    if latest > version and retry_conflict:
        # Stored, but the node already holds a higher version of the period: these figures must be current.
        return send_again(
            latest + 1, f"version {version} stored below the node's version {latest}; sent as {latest + 1}"
        )
    return SyncOutcome(
        **out,
        status="acknowledged",
        attempts=attempts,
        latency_ms=delivery.latency_ms,
        receipt_id=receipt["receipt_id"],
        duplicate=bool(receipt.get("duplicate")),
        message=note,
        node_id=node_id,
    )


def sync_day(
    day: dt.date,
    *,
    lake: Lake,
    con: duckdb.DuckDBPyConnection,
    client: httpx.Client,
    node: NodeConfig,
    run_id: str,
    today: dt.date | None = None,
    measures: tuple[Measure, ...] = MEASURES,
    privacy: SyncPrivacy | None = None,
) -> SyncOutcome:
    """Release one local day to the node if it passes its release check and is not already there as it stands.

    What the ledger knows is per node and channel: a node never sent to starts from version 1. The node's
    channel names its contract (warehouse.registry.SYNC_CHANNELS). `privacy` (the channel's, from the
    settings; None: off) puts noisy estimates into withheld cells."""
    period = day.isoformat()
    contract = channel(node.channel)
    ledger.migrate(lake, run_id)
    rows = ledger.period_rows(lake, period, node.url, node.channel)
    reason, status = release_check(lake, day, today=today), "skipped"
    if not reason:
        try:
            # what this node holds, and what other channels' nodes hold: nodes may compare their versions
            elsewhere = ledger.other_channels_rows(lake, period, node.channel)
            held = (*ledger.held_versions(rows), *ledger.held_versions(elsewhere))
            built = build(con, lake, day, measures, held=held, privacy=privacy, channel=contract)
        except ReleaseHeld as exc:
            reason, status = f"restatement held: {exc}", "held"
    if reason:
        version = ledger.next_version(rows)
        ledger.record_skipped(
            lake,
            province=node.province,
            period=period,
            version=version,
            node_url=node.url,
            reason=reason,
            run_id=run_id,
            channel=node.channel,
            status=status,
        )
        ledger.compact(lake, run_id)
        return SyncOutcome(
            period, status, version=version, message=reason, channel=node.channel, node=node.url
        )
    plan = ledger.plan(rows, built.payload_sha256)
    if plan.action == "unchanged":
        ack = plan.acknowledged or {}
        return SyncOutcome(
            period,
            "unchanged",
            version=plan.version,
            batch_id=ack.get("batch_id"),
            rows=int(ack.get("rows") or 0),
            cells_suppressed=int(ack.get("cells_suppressed") or 0),
            receipt_id=ack.get("node_receipt"),
            message="already acknowledged with these figures",
            channel=node.channel,
            node=node.url,
        )
    if plan.superseded:
        ledger.record_superseded(lake, plan.superseded, by_version=plan.version, run_id=run_id)
    note = None
    if plan.recovering:
        note = "re-sent: an earlier send was not acknowledged"
    elif plan.restatement:
        note = "restatement: the figures changed since the last acknowledged version"
    if n := built.release.restatement:  # said where the user and the catalog look: CLI, ledger message
        note = "; ".join(
            filter(None, [note, f"{n} entries withheld so no withheld change follows from the versions held"])
        )
    if built.noised is not None and built.noised.draws and privacy is not None:
        noise.record_draws(  # spent before anything leaves: a crash from here on over-counts, never under
            lake,
            built.noised.draws,
            period=period,
            channel=node.channel,
            node=node.url,
            version=plan.version,
            budget=privacy.budget,
            run_id=run_id,
        )
    outcome = _send(
        lake,
        client,
        node,
        built,
        period=period,
        version=plan.version,
        prior_attempts=plan.prior_attempts,
        restatement=plan.restatement,
        run_id=run_id,
        note=note,
    )
    ledger.compact(lake, run_id)
    return outcome


def refresh_after_sync(lake: Lake, run_id: str) -> list[str]:
    """Right after a sync, what the directory shows of it: the plan's days-synced KPI (latest as-of day)
    and the ledger's and the plan's rows in catalog.dataset. The cheapest correct refresh: two small
    upserts instead of re-running the catalog job (which rebuilds both in full). Returns the tables touched."""
    touched = []
    if lake.exists(PLAN_PROGRESS) and lake.exists(SYNC_LEDGER):
        kpi = lake.read(PLAN_PROGRESS).filter(pl.col("kpi") == DAYS_SYNCED).sort("as_of_day").tail(1)
        if kpi.height:
            acked = lake.read(SYNC_LEDGER, columns=["period", "status", "channel"]).filter(
                (pl.col("status") == "acknowledged") & (pl.col("channel") == ledger.DEFAULT_CHANNEL)
            )
            value = days_synced(kpi["as_of_day"][0], acked["period"].to_list())
            if kpi["value"][0] != value:
                lake.upsert(PLAN_PROGRESS, kpi.with_columns(value=pl.lit(value)), run_id=run_id)
                touched.append(PLAN_PROGRESS.name)
    if refresh_datasets(lake, [SYNC_LEDGER, PLAN_PROGRESS]):
        touched.append(CATALOG_DATASET.name)
    return touched


def days_between(lake: Lake, until: dt.date, since: dt.date | None = None) -> list[dt.date]:
    """Every local day from `since` (default: the first day the energy theme holds) to `until`."""
    if since is None:
        present = lake.partitions(ENERGY_DAILY)
        if not present:
            return []
        since = dt.date.fromisoformat(present[0])
    return [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]


def sync_days(
    days: Iterable[dt.date], *, on_done: Callable[[SyncOutcome], None] | None = None, **kwargs
) -> list[SyncOutcome]:
    """sync_day over several days, in the order given; a failed day does not stop the others."""
    outcomes = []
    for day in days:
        outcome = sync_day(day, **kwargs)
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)
    return outcomes


def sync_day_to(
    day: dt.date,
    nodes: Iterable[NodeConfig],
    *,
    privacy: Callable[[str], SyncPrivacy | None] = lambda channel: None,
    **kwargs,
) -> list[SyncOutcome]:
    """sync_day to each node in turn (see channels.targets for which), each with its channel's privacy;
    one node failing does not stop the others."""
    return [sync_day(day, node=node, privacy=privacy(node.channel), **kwargs) for node in nodes]
