"""The alert state machine: one alert per incident key, a "resolved" message when it clears, a rate
limit per channel, and every alert recorded in catalog.alert.

State lives in catalog.alert itself (the last event per incident key), so a restarted sensor neither
repeats an open incident nor forgets one. Rate limit: at most `rate_limit` messages per channel in any
`rate_window`; when more are due, the last free slot carries one summary of the rest (`summarized`), and
with no slot left they are recorded as `suppressed` (the incident stays open; its resolution is sent).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import polars as pl

from assets.alerts.channels import SENDERS, DeliveryError
from assets.alerts.incidents import Incident
from warehouse.registry import ALERT, ENTERPRISE
from warehouse.settings import AlertSettings
from warehouse.storage import Lake

MASK = "***"


@dataclass(frozen=True)
class Message:
    incident_key: str
    kind: str
    event: str  # raised | resolved
    severity: str
    title: str
    body: str


@dataclass
class AlertReport:
    raised: int = 0
    resolved: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)  # delivery -> rows

    def summary(self) -> str:
        return f"{self.raised} raised, {self.resolved} resolved; deliveries {dict(sorted(self.deliveries.items()))}"


def open_incidents(log: pl.DataFrame) -> dict[str, dict]:
    """Incident keys whose last recorded event is `raised`, with their kind and title."""
    if log.is_empty():
        return {}
    # the last alert per key (all its channel rows); one whose every delivery failed is retried
    per_alert = log.group_by("alert_id").agg(
        pl.col("incident_key", "kind", "event", "severity", "title", "created_at").first(),
        delivered=(pl.col("delivery") != "failed").any(),
    )
    last = per_alert.sort("created_at").group_by("incident_key", maintain_order=True).last()
    raised = last.filter((pl.col("event") == "raised") & pl.col("delivered"))
    return {r["incident_key"]: r for r in raised.iter_rows(named=True)}


def scrub(text: str, forbidden: Iterable[str]) -> str:
    """Mask every forbidden value (secrets, personal values known to the lake) wherever it appears."""
    for value in sorted({v for v in forbidden if v and len(v) >= 3}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def personal_values(lake: Lake) -> set[str]:
    """Values of the registry's personal columns in the golden record: never in an alert body."""
    pii = [c.name for c in ENTERPRISE.columns if c.pii]
    frame = lake.read(ENTERPRISE, columns=pii)
    return {str(v) for col in pii for v in frame[col].drop_nulls().unique().to_list()}


def transitions(
    active: list[Incident], log: pl.DataFrame, *, scope: Iterable[str] | None = None
) -> list[Message]:
    """New incidents are raised, open incidents of a kind in `scope` (None: all) no longer active resolve."""
    opened = open_incidents(log)
    scope = None if scope is None else set(scope)
    out = []
    for inc in active:
        if inc.key in opened:
            continue
        body = "\n".join([f"### {inc.title}", *(f"- {line}" for line in inc.lines)])
        out.append(Message(inc.key, inc.kind, "raised", inc.severity, inc.title, body))
    keys = {i.key for i in active}
    for key, row in sorted(opened.items()):
        if key not in keys and (scope is None or row["kind"] in scope):
            title = f"Resolved: {row['title']}"
            out.append(Message(key, row["kind"], "resolved", row["severity"], title, f"### {title}"))
    return out


def budget(log: pl.DataFrame, channel: str, *, limit: int, window: dt.timedelta, now: dt.datetime) -> int:
    """Messages the channel may still send in the window ending now (a summary counts as one)."""
    if log.is_empty():
        return limit
    sent = log.filter(
        (pl.col("channel") == channel)
        & (pl.col("created_at") > now - window)
        & pl.col("delivery").is_in(["sent", "summarized"])
    )
    # a summary covers several rows but was one message (its rows share the summary id in `error`)
    messages = sent.filter(pl.col("delivery") == "sent").height
    messages += sent.filter(pl.col("delivery") == "summarized")["error"].n_unique()
    return max(limit - messages, 0)


def _alert_id(msg: Message, now: dt.datetime) -> str:
    return hashlib.sha256(f"{msg.incident_key}|{msg.event}|{now.isoformat()}".encode()).hexdigest()[:16]


def deliver(
    messages: list[Message],
    log: pl.DataFrame,
    settings: AlertSettings,
    *,
    now: dt.datetime,
    forbidden: Iterable[str] = (),
    senders: dict[str, Callable[[AlertSettings, str, str], None]] = SENDERS,
) -> pl.DataFrame:
    """Send the messages over every configured channel within its rate limit; the catalog.alert rows."""
    forbidden = (*settings.secrets, *forbidden)
    rows = []
    for channel in settings.channels:
        free = budget(log, channel, limit=settings.rate_limit, window=settings.rate_window, now=now)
        if len(messages) <= free:
            individual, rest = messages, []
        else:
            individual, rest = messages[: max(free - 1, 0)], messages[max(free - 1, 0) :]
        for msg in individual:
            title, body = scrub(msg.title, forbidden), scrub(msg.body, forbidden)
            delivery, error = _send(senders[channel], settings, title, body)
            rows.append(_row(msg, channel, title, body, delivery, error, now))
        if rest and free >= 1:
            summary_id = hashlib.sha256("|".join(m.incident_key for m in rest).encode()).hexdigest()[:12]
            title = f"{len(rest)} more alerts (rate limit {settings.rate_limit} per {settings.rate_window})"
            lines = [f"- {m.event}: {m.title}" for m in rest[:50]]
            if len(rest) > 50:
                lines.append(f"- ... and {len(rest) - 50} more in catalog.alert")
            body = scrub("\n".join([f"### {title}", *lines]), forbidden)
            delivery, error = _send(senders[channel], settings, scrub(title, forbidden), body)
            for msg in rest:
                mbody = scrub(msg.body, forbidden)
                state = "summarized" if delivery == "sent" else "failed"
                rows.append(
                    _row(
                        msg,
                        channel,
                        scrub(msg.title, forbidden),
                        mbody,
                        state,
                        error or f"summary {summary_id}",
                        now,
                    )
                )
        elif rest:
            for msg in rest:
                title, body = scrub(msg.title, forbidden), scrub(msg.body, forbidden)
                rows.append(_row(msg, channel, title, body, "suppressed", "rate limit", now))
    return pl.DataFrame(rows, schema=ALERT.schema) if rows else pl.DataFrame(schema=ALERT.schema)


def _send(sender: Callable, settings: AlertSettings, title: str, body: str) -> tuple[str, str | None]:
    try:
        sender(settings, title, body)
    except DeliveryError as exc:
        return "failed", str(exc)
    return "sent", None


def _row(
    msg: Message, channel: str, title: str, body: str, delivery: str, error: str | None, now: dt.datetime
) -> dict:
    return {
        "alert_id": _alert_id(msg, now),
        "incident_key": msg.incident_key,
        "kind": msg.kind,
        "event": msg.event,
        "severity": msg.severity,
        "title": title,
        "body": body,
        "channel": channel,
        "delivery": delivery,
        "error": error,
        "created_at": now,
    }


def run_alerts(
    lake: Lake,
    settings: AlertSettings,
    active: list[Incident],
    *,
    scope: Iterable[str] | None,
    run_id: str,
    now: dt.datetime | None = None,
) -> AlertReport:
    """Raise what is new, resolve what cleared (within `scope`), deliver, and record in catalog.alert."""
    now = now or dt.datetime.now(dt.UTC)
    log = lake.read(ALERT)
    messages = transitions(active, log, scope=scope)
    report = AlertReport(
        raised=sum(m.event == "raised" for m in messages),
        resolved=sum(m.event == "resolved" for m in messages),
    )
    if not messages or not settings.channels:
        return report
    rows = deliver(messages, log, settings, now=now, forbidden=personal_values(lake))
    lake.append(ALERT, rows, run_id=run_id)
    report.deliveries = dict(rows.group_by("delivery").len().iter_rows())
    return report
