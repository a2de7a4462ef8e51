"""Settings, read once from the environment. Everything the lakehouse writes lives under LAKEHOUSE_HOME."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from warehouse.domain import KGCE_PER_UNIT
from warehouse.identifiers import DEFAULT_NODE
from warehouse.settings.profile import (
    DAGSTER_YAML,
    DAGSTER_YAML_SERVER,
    FUTURE_TOLERANCE,
    IN_PROGRESS_MAX_AGE,
    LATE_WATERMARK_DAYS,
    THIRD_PARTY_ENV,
    _at_least_zero,
    _dp_epsilon,
    _identifier_node,
    _lake_uri,
    _positive,
    _profile,
    ensure_pg_database,
    object_store_options,
)
from warehouse.settings.secrets import (
    DEFAULT_KEY_ID,
    DEFAULT_NODE_URL,
    DP_BUDGET_ENV,
    DP_EPSILON_ENV,
    KEY_ENV,
    KEY_ID_ENV,
    NATIONAL,
    NODE_URL_ENV,
    ChannelAccess,
    SyncKey,
    SyncPrivacy,
    channel_env,
    demo_key,
)

if TYPE_CHECKING:
    from warehouse.storage import Lake

# Bronze rows a telemetry shard holds at most. Measured on 2 cores, two shards at once (day build of
# 10M / 50M readings): 500k 5.1-5.3 s / 33-35 s, peak 1.1-1.4 GiB; 1M 5.4-5.7 s / 31.7-32.4 s, 2.0 GiB;
# 2M 5.8-7.1 s / 33.6-37.9 s, 3.3-3.5 GiB. Larger shards contend for memory bandwidth; smaller ones
# pay a fixed read per shard that grows with the day's bronze files.
SHARD_ROWS = 1_000_000


@dataclass(frozen=True)
class Settings:
    home: Path
    late_watermark_days: int
    partitions_start: dt.date
    natural_gas_kgce_per_m3: float
    future_tolerance: dt.timedelta = FUTURE_TOLERANCE
    in_progress_max_age: dt.timedelta = IN_PROGRESS_MAX_AGE
    shard_rows: int = SHARD_ROWS  # the telemetry day build cuts a day into shards of at most this many rows
    shards: int = 0  # a fixed shard count (0: from shard_rows and the day's bronze rows)
    shard_workers: int = 1  # shards built at once (threads of the build's process; see default_shard_workers)
    days_per_run: int = (
        31  # a backfill builds contiguous days in runs of at most this many (assets/day_range.py)
    )
    # SQL endpoint (`lakehouse serve-sql`)
    sql_statement_timeout_s: float = 30.0
    sql_max_rows: int = 100_000
    sql_max_connections: int = 64
    sql_max_connections_per_user: int = 8
    sql_audit_flush_s: float = 2.0
    sql_tls_cert: str | None = None
    sql_tls_key: str | None = None
    sql_session_threads: int = 1
    sql_session_memory: str = "1GB"
    feed_cadence: dt.timedelta = dt.timedelta(minutes=15)  # an enterprise's feed is late beyond this
    feed_silent_after: dt.timedelta = dt.timedelta(hours=24)  # ... and silent beyond this
    profile: str = "embedded"  # embedded (SQLite, local lake) | server (PostgreSQL, object store)
    pg_url: str = ""  # server profile: Dagster's PostgreSQL (default: a database per home on loopback)
    max_runs: int = 8  # server profile: runs at once in the queue
    max_daily_runs: int = 4  # ... of which daily_job runs (sync_job: always one at a time)
    identifier_node: str = (
        DEFAULT_NODE  # the province's secondary identifier node: handles 88.<node>.<uscc>/...
    )
    resolver_flush_s: float = 5.0  # `lakehouse resolver serve`: resolution counts committed this often
    workers: int = 2  # server profile: Celery workers `lakehouse server up` starts (shards run on them)
    # server profile: the shards' task broker (may hold a password: never printed)
    celery_broker: str = field(default="amqp://guest@127.0.0.1:5672//", repr=False)
    celery_queue: str = ""  # server profile: the shard queue (default: one per home)
    shard_timeout_s: float = 3600.0  # server profile: a shard not back from a worker by then fails the run
    # Role files hold the last this-many local days of the per-reading tables (TableSpec.readings); 0: all
    serve_readings_days: int = 0
    shard_retries: int = 2  # server profile: a shard whose worker hit an I/O error is sent again this often
    lake_uri: str = ""  # the lake on object storage (s3://bucket/prefix); empty: the folder home/lake
    # delta-rs storage_options of a remote lake (endpoint, keys): never printed, never in as_env()
    lake_options: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # Housekeeping (nightly housekeeping_job): VACUUM keeps every file a version of the last this-many
    # hours needs (time travel within it; longer than any query or build runs). Delta's default: 7 days.
    vacuum_retention_hours: float = 168.0
    run_retention_days: float = 90.0  # Dagster runs (and their event logs) older than this are deleted
    gx_results_retention_days: float = 30.0  # GX validation results and their Data Docs pages, likewise
    # National sync: the node's URL and this province's signing key (LAKEHOUSE_SYNC_KEY, from the secret
    # store; empty: the home's demo key). The secret is never printed and never in as_env().
    sync_node_url: str = "http://127.0.0.1:8737"
    sync_key_id: str = "default"
    sync_secret: str = field(default="", repr=False)
    # Differential privacy on withheld cells (assets/sync/noise.py), off by default: epsilon per channel
    # (LAKEHOUSE_SYNC_DP_EPSILON: one value for every channel, or `national=0.5,<channel>=1`), and the
    # budget each enterprise may spend per period over every channel and version (LAKEHOUSE_SYNC_DP_BUDGET).
    sync_dp_epsilon: tuple[tuple[str, float], ...] = ()
    sync_dp_budget: float = 3.0
    # Industry nodes (warehouse.registry.SYNC_CHANNELS): URL and key per channel, LAKEHOUSE_SYNC_<CHANNEL>_*
    sync_industry: tuple[ChannelAccess, ...] = field(default=(), repr=False)

    def sync_node_url_of(self, channel: str = NATIONAL) -> str:
        """The channel's node URL; empty for an industry node without LAKEHOUSE_SYNC_<CHANNEL>_NODE_URL."""
        if channel == NATIONAL:
            return self.sync_node_url
        return next((a.url for a in self.sync_industry if a.channel == channel), "")

    @property
    def sync_channels_configured(self) -> tuple[str, ...]:
        """The channels with a node to send to: the national center, and industry nodes given a URL."""
        return (NATIONAL, *(a.channel for a in self.sync_industry if a.url))

    def sync_privacy(self, channel: str) -> SyncPrivacy | None:
        """The channel's differential-privacy setting; None (no noise) unless an epsilon is declared for it."""
        eps = dict(self.sync_dp_epsilon)
        epsilon = eps.get(channel, eps.get("*"))
        return None if epsilon is None else SyncPrivacy(epsilon, self.sync_dp_budget)

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def lake(self) -> Path | str:
        """The lake's root: LAKEHOUSE_LAKE_URI (an object store URI) or the folder home/lake."""
        return self.lake_uri or self.home / "lake"

    @property
    def lake_remote(self) -> bool:
        return bool(self.lake_uri)

    def open_lake(self) -> Lake:
        """The lake every reader and writer of this home uses (the one place a Lake is made from settings)."""
        from warehouse.storage import Lake

        return Lake(self.lake, dict(self.lake_options) or None)

    @property
    def warehouse_db(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def gx_home(self) -> Path:
        return self.home / "gx"

    @property
    def manifest(self) -> Path:
        return self.home / "simulator" / "manifest.json"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def sql_users(self) -> Path:
        return self.home / "secrets" / "sql_users.json"

    @property
    def kgce(self) -> dict[str, float]:
        return KGCE_PER_UNIT | {"natural_gas": self.natural_gas_kgce_per_m3}

    @property
    def server(self) -> bool:
        return self.profile == "server"

    @property
    def pg_database_url(self) -> str:
        """Dagster's PostgreSQL: LAKEHOUSE_PG_URL, else database lakehouse_<hash of home> on loopback."""
        if self.pg_url:
            return self.pg_url
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
        return f"postgresql://postgres@127.0.0.1:5432/lakehouse_{digest}"

    @property
    def shard_executor(self) -> str:
        """Where the day build's shards run: Celery workers (server profile) or this host ("local")."""
        return "celery" if self.server else "local"

    @property
    def shard_queue(self) -> str:
        """The Celery queue of this home's shards (homes sharing a broker never take each other's)."""
        if self.celery_queue:
            return self.celery_queue
        return "lakehouse_shards_" + hashlib.sha256(str(self.home).encode()).hexdigest()[:12]

    def dagster_yaml(self) -> str:
        """The Dagster instance configuration of this profile (the one place the profile is read)."""
        if self.server:
            return DAGSTER_YAML_SERVER.format(max_runs=self.max_runs, max_daily_runs=self.max_daily_runs)
        return DAGSTER_YAML

    def sync_key(self, channel: str = NATIONAL) -> SyncKey:
        """The province's signing key for a channel: LAKEHOUSE_SYNC_KEY (LAKEHOUSE_SYNC_<CHANNEL>_KEY)
        if set, else this home's demo key of that channel."""
        if channel == NATIONAL and self.sync_secret:
            return SyncKey(self.sync_key_id, self.sync_secret)
        access = next((a for a in self.sync_industry if a.channel == channel), None)
        if access is not None and access.secret:
            return SyncKey(access.key_id, access.secret)
        return demo_key(self.home, channel)

    def prepare(self) -> None:
        """Create the home layout, point Dagster at its instance inside it and turn telemetry off.

        The profile's dagster.yaml replaces one the lakehouse wrote (a switched profile takes effect); a
        dagster.yaml written by hand is left alone. The server profile creates its database if absent.
        """
        local = () if self.lake_remote else (self.home / "lake",)
        for d in (self.landing / "telemetry", *local, self.dagster_home):
            d.mkdir(parents=True, exist_ok=True)
        yaml = self.dagster_home / "dagster.yaml"
        text = self.dagster_yaml()
        if not yaml.exists() or (
            yaml.read_text(encoding="utf-8").startswith("# written by lakehouse")
            and yaml.read_text(encoding="utf-8") != text
        ):
            yaml.write_text(text, encoding="utf-8")
        if self.server:
            ensure_pg_database(self.pg_database_url)
        os.environ.update(self.as_env())
        for name, value in THIRD_PARTY_ENV.items():  # a value the operator set is kept
            os.environ.setdefault(name, value)

    def as_env(self) -> dict[str, str]:
        """The resolved settings as environment variables, for Dagster resources (EnvVar) and children."""
        return (
            {
                "LAKEHOUSE_HOME": str(self.home),
                "LAKEHOUSE_WAREHOUSE_DB": str(self.warehouse_db),
                "LAKEHOUSE_LATE_WATERMARK_DAYS": str(self.late_watermark_days),
                "LAKEHOUSE_PARTITIONS_START": self.partitions_start.isoformat(),
                "LAKEHOUSE_NATURAL_GAS_KGCE_PER_M3": repr(self.natural_gas_kgce_per_m3),
                "LAKEHOUSE_FUTURE_TOLERANCE_MINUTES": repr(self.future_tolerance.total_seconds() / 60),
                "LAKEHOUSE_IN_PROGRESS_MAX_AGE_HOURS": repr(self.in_progress_max_age.total_seconds() / 3600),
                "LAKEHOUSE_SHARD_ROWS": str(self.shard_rows),
                "LAKEHOUSE_SHARDS": str(self.shards),
                "LAKEHOUSE_SHARD_WORKERS": str(self.shard_workers),
                "LAKEHOUSE_DAYS_PER_RUN": str(self.days_per_run),
                "LAKEHOUSE_FEED_CADENCE_MINUTES": repr(self.feed_cadence.total_seconds() / 60),
                "LAKEHOUSE_FEED_SILENT_HOURS": repr(self.feed_silent_after.total_seconds() / 3600),
                "LAKEHOUSE_PROFILE": self.profile,
                "LAKEHOUSE_MAX_RUNS": str(self.max_runs),
                "LAKEHOUSE_MAX_DAILY_RUNS": str(self.max_daily_runs),
                "LAKEHOUSE_IDENTIFIER_NODE": self.identifier_node,
                "LAKEHOUSE_WORKERS": str(self.workers),
                "LAKEHOUSE_CELERY_QUEUE": self.shard_queue,
                "LAKEHOUSE_SHARD_TIMEOUT_S": repr(self.shard_timeout_s),
                "LAKEHOUSE_SHARD_RETRIES": str(self.shard_retries),
                "LAKEHOUSE_SERVE_READINGS_DAYS": str(self.serve_readings_days),
                "LAKEHOUSE_VACUUM_RETENTION_HOURS": repr(self.vacuum_retention_hours),
                "LAKEHOUSE_RUN_RETENTION_DAYS": repr(self.run_retention_days),
                "LAKEHOUSE_GX_RESULTS_RETENTION_DAYS": repr(self.gx_results_retention_days),
                "DAGSTER_HOME": str(self.dagster_home),
            }
            | ({"LAKEHOUSE_LAKE_URI": self.lake_uri} if self.lake_uri else {})
            | (
                {
                    DP_EPSILON_ENV: ",".join(
                        f"{c}={e!r}" if c != "*" else repr(e) for c, e in self.sync_dp_epsilon
                    ),
                    DP_BUDGET_ENV: repr(self.sync_dp_budget),
                }
                if self.sync_dp_epsilon
                else {}
            )
            | (
                {
                    "LAKEHOUSE_PG_URL": self.pg_database_url,
                    # SQLAlchemy's default PostgreSQL driver is psycopg 3; dagster-postgres ships psycopg2
                    "LAKEHOUSE_DAGSTER_PG_URL": re.sub(
                        r"^postgres(ql)?://", "postgresql+psycopg2://", self.pg_database_url
                    ),
                }
                if self.server
                else {}
            )
        )


def sync_key(home: Path, env: dict[str, str] | None = None, channel: str = NATIONAL) -> SyncKey:
    """The channel's key of `env` (default: the process's) if set, else the home's demo key."""
    return load_settings((dict(os.environ) if env is None else env) | {"LAKEHOUSE_HOME": str(home)}).sync_key(
        channel
    )


def _industry_access(env: dict[str, str]) -> tuple[ChannelAccess, ...]:
    """Each industry channel's node URL and key from LAKEHOUSE_SYNC_<CHANNEL>_NODE_URL, _KEY_ID, _KEY."""
    from warehouse.registry import SYNC_CHANNELS

    return tuple(
        ChannelAccess(
            name,
            env.get(channel_env(name, "NODE_URL"), ""),
            env.get(channel_env(name, "KEY_ID")) or DEFAULT_KEY_ID,
            env.get(channel_env(name, "KEY"), ""),
        )
        for name, channel in SYNC_CHANNELS.items()
        if channel.industry
    )


SHARD_BYTES_PER_ROW = 1600  # peak memory of one shard build per bronze row, with headroom (2M rows: 3 GiB)


def default_shard_workers(shard_rows: int = SHARD_ROWS) -> int:
    """Shards built at once when LAKEHOUSE_SHARD_WORKERS is unset: one per core this process may run on,
    no more than the machine's memory holds at SHARD_BYTES_PER_ROW x `shard_rows` a shard."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: one shard at a time
        return 1
    return max(1, min(cores, memory // (SHARD_BYTES_PER_ROW * max(1, shard_rows))))


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    return Settings(
        home=Path(env.get("LAKEHOUSE_HOME", ".lakehouse")).resolve(),
        late_watermark_days=int(env.get("LAKEHOUSE_LATE_WATERMARK_DAYS", LATE_WATERMARK_DAYS)),
        partitions_start=dt.date.fromisoformat(env.get("LAKEHOUSE_PARTITIONS_START", "2025-01-01")),
        natural_gas_kgce_per_m3=float(
            env.get("LAKEHOUSE_NATURAL_GAS_KGCE_PER_M3", KGCE_PER_UNIT["natural_gas"])
        ),
        future_tolerance=dt.timedelta(
            minutes=float(
                env.get("LAKEHOUSE_FUTURE_TOLERANCE_MINUTES", FUTURE_TOLERANCE.total_seconds() / 60)
            )
        ),
        in_progress_max_age=dt.timedelta(
            hours=float(
                env.get("LAKEHOUSE_IN_PROGRESS_MAX_AGE_HOURS", IN_PROGRESS_MAX_AGE.total_seconds() / 3600)
            )
        ),
        shard_rows=(shard_rows := int(env.get("LAKEHOUSE_SHARD_ROWS", SHARD_ROWS))),
        shards=int(env.get("LAKEHOUSE_SHARDS", "0")),
        shard_workers=max(1, int(env.get("LAKEHOUSE_SHARD_WORKERS") or default_shard_workers(shard_rows))),
        days_per_run=max(1, int(env.get("LAKEHOUSE_DAYS_PER_RUN", "31"))),
        sql_statement_timeout_s=float(env.get("LAKEHOUSE_SQL_STATEMENT_TIMEOUT_S", "30")),
        sql_max_rows=int(env.get("LAKEHOUSE_SQL_MAX_ROWS", "100000")),
        sql_max_connections=int(env.get("LAKEHOUSE_SQL_MAX_CONNECTIONS", "64")),
        sql_max_connections_per_user=int(env.get("LAKEHOUSE_SQL_MAX_CONNECTIONS_PER_USER", "8")),
        sql_audit_flush_s=float(env.get("LAKEHOUSE_SQL_AUDIT_FLUSH_S", "2")),
        sql_tls_cert=env.get("LAKEHOUSE_SQL_TLS_CERT") or None,
        sql_tls_key=env.get("LAKEHOUSE_SQL_TLS_KEY") or None,
        sql_session_threads=int(env.get("LAKEHOUSE_SQL_SESSION_THREADS", "1")),
        sql_session_memory=env.get("LAKEHOUSE_SQL_SESSION_MEMORY", "1GB"),
        feed_cadence=dt.timedelta(minutes=float(env.get("LAKEHOUSE_FEED_CADENCE_MINUTES", "15"))),
        feed_silent_after=dt.timedelta(hours=float(env.get("LAKEHOUSE_FEED_SILENT_HOURS", "24"))),
        profile=_profile(env.get("LAKEHOUSE_PROFILE", "embedded")),
        pg_url=env.get("LAKEHOUSE_PG_URL", ""),
        max_runs=int(env.get("LAKEHOUSE_MAX_RUNS", "8")),
        max_daily_runs=int(env.get("LAKEHOUSE_MAX_DAILY_RUNS", "4")),
        identifier_node=_identifier_node(env.get("LAKEHOUSE_IDENTIFIER_NODE", DEFAULT_NODE)),
        resolver_flush_s=float(env.get("LAKEHOUSE_RESOLVER_FLUSH_S", "5")),
        workers=int(env.get("LAKEHOUSE_WORKERS", "2")),
        celery_broker=env.get("LAKEHOUSE_CELERY_BROKER", "amqp://guest@127.0.0.1:5672//"),
        celery_queue=env.get("LAKEHOUSE_CELERY_QUEUE", ""),
        shard_timeout_s=float(env.get("LAKEHOUSE_SHARD_TIMEOUT_S", "3600")),
        shard_retries=int(_at_least_zero(env, "LAKEHOUSE_SHARD_RETRIES", "2")),
        serve_readings_days=int(_at_least_zero(env, "LAKEHOUSE_SERVE_READINGS_DAYS", "0")),
        lake_uri=_lake_uri(env.get("LAKEHOUSE_LAKE_URI", "")),
        lake_options=tuple(sorted(object_store_options(env).items()))
        if env.get("LAKEHOUSE_LAKE_URI")
        else (),
        vacuum_retention_hours=_at_least_zero(env, "LAKEHOUSE_VACUUM_RETENTION_HOURS", "168"),
        run_retention_days=_at_least_zero(env, "LAKEHOUSE_RUN_RETENTION_DAYS", "90"),
        gx_results_retention_days=_at_least_zero(env, "LAKEHOUSE_GX_RESULTS_RETENTION_DAYS", "30"),
        sync_node_url=env.get(NODE_URL_ENV) or DEFAULT_NODE_URL,
        sync_key_id=env.get(KEY_ID_ENV) or DEFAULT_KEY_ID,
        sync_secret=env.get(KEY_ENV, ""),
        sync_dp_epsilon=_dp_epsilon(env.get(DP_EPSILON_ENV, "")),
        sync_dp_budget=_positive(env, DP_BUDGET_ENV, "3"),
        sync_industry=_industry_access(env),
    )


def lake_at(root: str) -> Lake:
    """The lake at `root` as a shard task names it (in any process): remote roots take this process's
    object-store settings (from its environment, never from the task)."""
    from warehouse.storage import Lake

    s = settings()
    remote = "://" in root and not root.startswith("file://")
    options = (dict(s.lake_options) or object_store_options()) if remote else None
    return Lake(root, options)


@cache
def settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
