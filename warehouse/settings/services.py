"""Settings of the long-running services beside the pipeline: the collectors and the alert channels.
Secrets only from the environment, never printed."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class CollectorSettings:
    """Live collection (collectors/): broker, session, micro-batching. Secrets only from the environment."""

    mqtt_host: str
    mqtt_port: int
    mqtt_username: str | None
    mqtt_password: str | None
    mqtt_tls: bool
    mqtt_ca_file: str | None
    mqtt_cert_file: str | None
    mqtt_key_file: str | None
    topic_prefix: str
    client_id: str
    share_group: str | None
    session_expiry_s: int
    receive_maximum: int
    keepalive_s: int
    flush_seconds: float
    flush_readings: int
    opcua_endpoint: str
    opcua_sampling_ms: int
    opcua_backfill_hours: float
    opcua_max_backoff_s: float

    def __repr__(self) -> str:  # never print the password
        return f"CollectorSettings(mqtt={self.mqtt_host}:{self.mqtt_port}, client_id={self.client_id!r})"


def load_collector_settings(env: dict[str, str] | None = None) -> CollectorSettings:
    env = dict(os.environ) if env is None else env
    return CollectorSettings(
        mqtt_host=env.get("LAKEHOUSE_MQTT_HOST", "127.0.0.1"),
        mqtt_port=int(env.get("LAKEHOUSE_MQTT_PORT", "1883")),
        mqtt_username=env.get("LAKEHOUSE_MQTT_USERNAME") or None,
        mqtt_password=env.get("LAKEHOUSE_MQTT_PASSWORD") or None,
        mqtt_tls=env.get("LAKEHOUSE_MQTT_TLS", "0").lower() in ("1", "true", "yes"),
        mqtt_ca_file=env.get("LAKEHOUSE_MQTT_CA_FILE") or None,
        mqtt_cert_file=env.get("LAKEHOUSE_MQTT_CERT_FILE") or None,
        mqtt_key_file=env.get("LAKEHOUSE_MQTT_KEY_FILE") or None,
        topic_prefix=env.get("LAKEHOUSE_MQTT_TOPIC_PREFIX", "shandong"),
        client_id=env.get("LAKEHOUSE_COLLECTOR_ID", "lakehouse-collector-1"),
        share_group=env.get("LAKEHOUSE_MQTT_SHARE_GROUP", "lakehouse") or None,
        session_expiry_s=int(env.get("LAKEHOUSE_MQTT_SESSION_EXPIRY_S", str(7 * 24 * 3600))),
        receive_maximum=int(env.get("LAKEHOUSE_MQTT_RECEIVE_MAXIMUM", "10000")),
        keepalive_s=int(env.get("LAKEHOUSE_MQTT_KEEPALIVE_S", "60")),
        flush_seconds=float(env.get("LAKEHOUSE_COLLECT_FLUSH_SECONDS", "1.0")),
        flush_readings=int(env.get("LAKEHOUSE_COLLECT_FLUSH_READINGS", "20000")),
        opcua_endpoint=env.get("LAKEHOUSE_OPCUA_ENDPOINT", "opc.tcp://127.0.0.1:4840/lakehouse/"),
        opcua_sampling_ms=int(env.get("LAKEHOUSE_OPCUA_SAMPLING_MS", "1000")),
        opcua_backfill_hours=float(env.get("LAKEHOUSE_OPCUA_BACKFILL_HOURS", "24")),
        opcua_max_backoff_s=float(env.get("LAKEHOUSE_OPCUA_MAX_BACKOFF_S", "30")),
    )


@dataclass(frozen=True)
class AlertSettings:
    """Alert channels (group-robot webhook, SMTP) and the rate limit. Secrets only from the environment."""

    webhook_url: str | None
    webhook_secret: str | None
    smtp_host: str | None
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None
    smtp_starttls: bool
    smtp_from: str
    smtp_to: tuple[str, ...]
    rate_limit: int  # messages per channel per window; the rest are summarized
    rate_window: dt.timedelta
    sync_overdue: dt.timedelta  # a sync batch pending/sent without acknowledgement for longer is overdue
    timeout_s: float = 10.0

    @property
    def channels(self) -> tuple[str, ...]:
        """Configured channels: "webhook" when a URL is set, "email" when a host and recipients are."""
        return tuple(
            name
            for name, on in (
                ("webhook", bool(self.webhook_url)),
                ("email", bool(self.smtp_host and self.smtp_to)),
            )
            if on
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a log line or an alert body (the robot URL's token too)."""
        tokens = [v for _, v in parse_qsl(urlsplit(self.webhook_url or "").query)]
        return tuple(s for s in (self.webhook_secret, self.smtp_password, *tokens) if s)

    def __repr__(self) -> str:  # never print the secret, the password or the webhook's token
        return f"AlertSettings(channels={self.channels}, rate_limit={self.rate_limit}/{self.rate_window})"


def load_alert_settings(env: dict[str, str] | None = None) -> AlertSettings:
    env = dict(os.environ) if env is None else env
    return AlertSettings(
        webhook_url=env.get("LAKEHOUSE_ALERT_WEBHOOK_URL") or None,
        webhook_secret=env.get("LAKEHOUSE_ALERT_WEBHOOK_SECRET") or None,
        smtp_host=env.get("LAKEHOUSE_ALERT_SMTP_HOST") or None,
        smtp_port=int(env.get("LAKEHOUSE_ALERT_SMTP_PORT", "25")),
        smtp_username=env.get("LAKEHOUSE_ALERT_SMTP_USERNAME") or None,
        smtp_password=env.get("LAKEHOUSE_ALERT_SMTP_PASSWORD") or None,
        smtp_starttls=env.get("LAKEHOUSE_ALERT_SMTP_STARTTLS", "0").lower() in ("1", "true", "yes"),
        smtp_from=env.get("LAKEHOUSE_ALERT_SMTP_FROM", "lakehouse@localhost"),
        smtp_to=tuple(a.strip() for a in env.get("LAKEHOUSE_ALERT_SMTP_TO", "").split(",") if a.strip()),
        rate_limit=int(env.get("LAKEHOUSE_ALERT_RATE_LIMIT", "10")),
        rate_window=dt.timedelta(minutes=float(env.get("LAKEHOUSE_ALERT_RATE_WINDOW_MINUTES", "60"))),
        sync_overdue=dt.timedelta(hours=float(env.get("LAKEHOUSE_ALERT_SYNC_OVERDUE_HOURS", "6"))),
    )
