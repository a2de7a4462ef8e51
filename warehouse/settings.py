"""Settings, read once from the environment. Everything the lakehouse writes lives under LAKEHOUSE_HOME."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from warehouse.domain import KGCE_PER_UNIT

DAGSTER_YAML = """\
telemetry:
  enabled: false
"""


@dataclass(frozen=True)
class Settings:
    home: Path
    late_watermark_days: int
    partitions_start: dt.date
    natural_gas_kgce_per_m3: float
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

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

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

    def prepare(self) -> None:
        """Create the home layout and point Dagster at its instance inside it (telemetry off)."""
        for d in (self.landing / "telemetry", self.lake, self.dagster_home):
            d.mkdir(parents=True, exist_ok=True)
        yaml = self.dagster_home / "dagster.yaml"
        if not yaml.exists():
            yaml.write_text(DAGSTER_YAML, encoding="utf-8")
        os.environ.update(self.as_env())

    def as_env(self) -> dict[str, str]:
        """The resolved settings as environment variables, for Dagster resources (EnvVar) and children."""
        return {
            "LAKEHOUSE_HOME": str(self.home),
            "LAKEHOUSE_WAREHOUSE_DB": str(self.warehouse_db),
            "LAKEHOUSE_LATE_WATERMARK_DAYS": str(self.late_watermark_days),
            "LAKEHOUSE_PARTITIONS_START": self.partitions_start.isoformat(),
            "LAKEHOUSE_NATURAL_GAS_KGCE_PER_M3": repr(self.natural_gas_kgce_per_m3),
            "DAGSTER_HOME": str(self.dagster_home),
        }


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    return Settings(
        home=Path(env.get("LAKEHOUSE_HOME", ".lakehouse")).resolve(),
        late_watermark_days=int(env.get("LAKEHOUSE_LATE_WATERMARK_DAYS", "7")),
        partitions_start=dt.date.fromisoformat(env.get("LAKEHOUSE_PARTITIONS_START", "2025-01-01")),
        natural_gas_kgce_per_m3=float(
            env.get("LAKEHOUSE_NATURAL_GAS_KGCE_PER_M3", KGCE_PER_UNIT["natural_gas"])
        ),
        sql_statement_timeout_s=float(env.get("LAKEHOUSE_SQL_STATEMENT_TIMEOUT_S", "30")),
        sql_max_rows=int(env.get("LAKEHOUSE_SQL_MAX_ROWS", "100000")),
        sql_max_connections=int(env.get("LAKEHOUSE_SQL_MAX_CONNECTIONS", "64")),
        sql_max_connections_per_user=int(env.get("LAKEHOUSE_SQL_MAX_CONNECTIONS_PER_USER", "8")),
        sql_audit_flush_s=float(env.get("LAKEHOUSE_SQL_AUDIT_FLUSH_S", "2")),
        sql_tls_cert=env.get("LAKEHOUSE_SQL_TLS_CERT") or None,
        sql_tls_key=env.get("LAKEHOUSE_SQL_TLS_KEY") or None,
        sql_session_threads=int(env.get("LAKEHOUSE_SQL_SESSION_THREADS", "1")),
        sql_session_memory=env.get("LAKEHOUSE_SQL_SESSION_MEMORY", "1GB"),
    )


@cache
def settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
