"""Settings, read once from the environment. Everything the lakehouse writes lives under LAKEHOUSE_HOME."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from warehouse.domain import KGCE_PER_UNIT, PROVINCE_CODE
from warehouse.identifiers import DEFAULT_NODE

if TYPE_CHECKING:
    from warehouse.storage import Lake

# Defaults of the landing settings (also the defaults of the plain functions that take them).
LATE_WATERMARK_DAYS = (
    7  # a reading landing later than this after its day is quarantined as late_beyond_watermark
)
FUTURE_TOLERANCE = dt.timedelta(minutes=60)
IN_PROGRESS_MAX_AGE = dt.timedelta(hours=24)

PROFILES = ("embedded", "server")
DAGSTER_YAML = """\
# written by lakehouse (embedded profile): SQLite storage beside this file, runs in process
telemetry:
  enabled: false
"""
# The server profile: runs, events and schedules in PostgreSQL (the URL is read from the environment when
# the instance loads, never written here), and a queue that caps concurrent runs per job (run tags set on
# the jobs in orchestration/jobs.py).
DAGSTER_YAML_SERVER = """\
# written by lakehouse (server profile): PostgreSQL storage, queued runs with per-queue limits
telemetry:
  enabled: false
storage:
  postgres:
    postgres_url:
      env: LAKEHOUSE_DAGSTER_PG_URL
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: {max_runs}
    tag_concurrency_limits:
      - key: lakehouse/queue
        value: daily
        limit: {max_daily_runs}
      - key: lakehouse/queue
        value: sync
        limit: 1
"""


class SettingsError(ValueError):
    """A setting has a value the lakehouse cannot use."""


class ServiceUnavailable(RuntimeError):
    """A service the settings point at (PostgreSQL) does not answer."""


@dataclass(frozen=True)
class Settings:
    home: Path
    late_watermark_days: int
    partitions_start: dt.date
    natural_gas_kgce_per_m3: float
    future_tolerance: dt.timedelta = FUTURE_TOLERANCE
    in_progress_max_age: dt.timedelta = IN_PROGRESS_MAX_AGE
    shard_rows: int = 2_000_000  # the telemetry day build cuts a day into shards of at most this many rows
    shards: int = 0  # a fixed shard count (0: from shard_rows and the day's bronze rows)
    shard_workers: int = 1  # shards built in parallel processes
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

    def sync_key(self) -> SyncKey:
        """The province's signing key: LAKEHOUSE_SYNC_KEY if set, else this home's demo key."""
        if self.sync_secret:
            return SyncKey(self.sync_key_id, self.sync_secret)
        return demo_key(self.home)

    def prepare(self) -> None:
        """Create the home layout and point Dagster at its instance inside it (telemetry off).

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
                "LAKEHOUSE_FEED_CADENCE_MINUTES": repr(self.feed_cadence.total_seconds() / 60),
                "LAKEHOUSE_FEED_SILENT_HOURS": repr(self.feed_silent_after.total_seconds() / 3600),
                "LAKEHOUSE_PROFILE": self.profile,
                "LAKEHOUSE_MAX_RUNS": str(self.max_runs),
                "LAKEHOUSE_MAX_DAILY_RUNS": str(self.max_daily_runs),
                "LAKEHOUSE_IDENTIFIER_NODE": self.identifier_node,
                "LAKEHOUSE_WORKERS": str(self.workers),
                "LAKEHOUSE_CELERY_QUEUE": self.shard_queue,
                "LAKEHOUSE_SHARD_TIMEOUT_S": repr(self.shard_timeout_s),
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


def object_store_options(env: dict[str, str] | None = None) -> dict[str, str]:
    """delta-rs/polars `storage_options` for a lake on S3-compatible storage, from the environment only.

    LAKEHOUSE_S3_ENDPOINT (empty: AWS) and the standard AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    AWS_REGION. Commits use conditional writes (`conditional_put: etag`, PutObject If-None-Match), so
    concurrent writers to one table are safe without a locking service.
    """
    env = dict(os.environ) if env is None else env
    options = {"AWS_REGION": env.get("AWS_REGION", "us-east-1"), "conditional_put": "etag"}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if env.get(key):
            options[key] = env[key]
    endpoint = env.get("LAKEHOUSE_S3_ENDPOINT", "")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    return options


def ensure_pg_database(url: str) -> None:
    """Create the URL's database on its server if it does not exist (PostgreSQL has no IF NOT EXISTS)."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SettingsError(f"LAKEHOUSE_PG_URL: database name {name!r} must be letters, digits and _")
    try:
        con = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")), connect_timeout=10)
    except psycopg2.OperationalError as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ServiceUnavailable(f"PostgreSQL at {parts.hostname}:{parts.port or 5432}: {reason}") from e
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                # created meanwhile by another process of the same home: fine
                with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
                    cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        con.close()


# The province's signing key. Production sets LAKEHOUSE_SYNC_KEY (and LAKEHOUSE_SYNC_KEY_ID) from its
# secret store. The demo has none: a random key is generated once per home into
# `secrets/national_sync.key` (directory 0700, file 0600, a `.gitignore` of `*` beside it), and the demo node
# gets the same key through its environment. A key is never printed, logged, put on a command line or
# written inside the repository.
KEY_ENV, KEY_ID_ENV, NODE_URL_ENV = "LAKEHOUSE_SYNC_KEY", "LAKEHOUSE_SYNC_KEY_ID", "LAKEHOUSE_SYNC_NODE_URL"
DEFAULT_KEY_ID, DEMO_KEY_ID = "default", "demo"
DEFAULT_NODE_URL = "http://127.0.0.1:8737"
SECRETS_DIR, KEY_FILE = "secrets", "national_sync.key"
DP_EPSILON_ENV, DP_BUDGET_ENV = "LAKEHOUSE_SYNC_DP_EPSILON", "LAKEHOUSE_SYNC_DP_BUDGET"


@dataclass(frozen=True)
class SyncPrivacy:
    """A channel's differential privacy: `epsilon` spent by each enterprise of a noisy cell per release
    of a day, and the `budget` an enterprise may spend per period (day) over every channel and version."""

    epsilon: float
    budget: float


@dataclass(frozen=True)
class SyncKey:
    key_id: str
    secret: str = field(repr=False)
    source: str = "environment"

    def node_keys(self, province: str = PROVINCE_CODE) -> str:
        """The node's NATIONAL_NODE_KEYS entry for this key (to pass through an environment, never argv)."""
        return f"{province}:{self.key_id}={self.secret}"


def demo_key(home: Path) -> SyncKey:
    """The demo key of a LAKEHOUSE_HOME, created on first use (0600 inside a 0700 directory)."""
    folder = Path(home) / SECRETS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    path = folder / KEY_FILE
    if not path.exists():
        data = json.dumps({"key_id": DEMO_KEY_ID, "secret": secrets.token_urlsafe(32)})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
    os.chmod(path, 0o600)
    data = json.loads(path.read_text(encoding="utf-8"))
    return SyncKey(data["key_id"], data["secret"], source=f"demo key in {path}")


def sync_key(home: Path, env: dict[str, str] | None = None) -> SyncKey:
    """LAKEHOUSE_SYNC_KEY of `env` (default: the process's) if set, else the home's demo key."""
    return load_settings(
        (dict(os.environ) if env is None else env) | {"LAKEHOUSE_HOME": str(home)}
    ).sync_key()


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
        shard_rows=int(env.get("LAKEHOUSE_SHARD_ROWS", "2000000")),
        shards=int(env.get("LAKEHOUSE_SHARDS", "0")),
        shard_workers=int(env.get("LAKEHOUSE_SHARD_WORKERS", "1")),
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
    )


def _dp_epsilon(value: str) -> tuple[tuple[str, float], ...]:
    """`0.5` (every channel) or `national=0.5,industry=1`; empty: off."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        channel, _, number = part.rpartition("=")
        try:
            epsilon = float(number)
        except ValueError:
            raise SettingsError(
                f"{DP_EPSILON_ENV}: {part!r} is not <channel>=<epsilon> or <epsilon>"
            ) from None
        if not 0 < epsilon < float("inf"):
            raise SettingsError(f"{DP_EPSILON_ENV}: epsilon must be a positive number, not {number!r}")
        out[channel.strip() or "*"] = epsilon
    return tuple(sorted(out.items()))


def _positive(env: dict[str, str], name: str, default: str) -> float:
    value = _at_least_zero(env, name, default)
    if not value > 0:
        raise SettingsError(f"{name}={value!r}: expected a number > 0")
    return value


def _identifier_node(value: str) -> str:
    if not re.fullmatch(r"[0-9]{1,8}", value):
        raise SettingsError(
            f"LAKEHOUSE_IDENTIFIER_NODE must be 1-8 digits (the secondary node code), not {value!r}"
        )
    return value


def _lake_uri(value: str) -> str:
    value = value.strip().rstrip("/")
    if value and not value.startswith("s3://"):
        raise SettingsError(f"LAKEHOUSE_LAKE_URI={value!r}: expected s3://bucket/prefix (or unset)")
    return value


def lake_at(root: str) -> Lake:
    """The lake at `root` as a shard task names it (in any process): remote roots take this process's
    object-store settings (from its environment, never from the task)."""
    from warehouse.storage import Lake

    s = settings()
    remote = "://" in root and not root.startswith("file://")
    options = (dict(s.lake_options) or object_store_options()) if remote else None
    return Lake(root, options)


def _at_least_zero(env: dict[str, str], name: str, default: str) -> float:
    try:
        value = float(env.get(name, default))
    except ValueError:
        raise SettingsError(f"{name}={env.get(name)!r}: expected a number") from None
    if not value >= 0:
        raise SettingsError(f"{name}={value!r}: expected a number >= 0")
    return value


def _profile(value: str) -> str:
    if value not in PROFILES:
        raise SettingsError(f"LAKEHOUSE_PROFILE={value!r}: expected one of {', '.join(PROFILES)}")
    return value


@cache
def settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()


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
