"""The profile's fixed pieces: defaults of the landing settings, the Dagster instance YAML of each
profile, the object store's options and the server profile's PostgreSQL database; the errors settings raise."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from urllib.parse import urlsplit

from warehouse.settings.secrets import DP_EPSILON_ENV

# Defaults of the landing settings (also the defaults of the plain functions that take them).
LATE_WATERMARK_DAYS = (
    7  # a reading landing later than this after its day is quarantined as late_beyond_watermark
)


FUTURE_TOLERANCE = dt.timedelta(minutes=60)


IN_PROGRESS_MAX_AGE = dt.timedelta(hours=24)


PROFILES = ("embedded", "server")


# Third-party telemetry off in every process `prepare()` runs in and in the children it starts (the
# Dagster UI, daemon, run workers, shard workers). Great Expectations' contexts also store
# `analytics_enabled: false` (quality/gx.py); importing the code location sets nothing.
THIRD_PARTY_ENV = {"GX_ANALYTICS_ENABLED": "false"}


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
    from urllib.parse import urlunsplit

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


def drop_pg_database(url: str) -> None:
    """Drop the URL's database, whoever is still connected to it: for the benches and tests that make a
    server-profile home of their own (no lakehouse command drops a home's database)."""
    import psycopg2

    base, name = url.rsplit("/", 1)
    con = psycopg2.connect(base + "/postgres")
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    con.close()


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
