"""Settings, read once from the environment, in one package: every setting the lakehouse reads, keys
included, is read here and nowhere else. Everything the lakehouse writes lives under LAKEHOUSE_HOME.

lakehouse: Settings (the home, the pipeline, the profile) and settings(); profile: defaults, the
Dagster instance per profile, the object store; secrets: the sync's keys (national, industry nodes) and privacy; services:
the collectors and alerts."""

from __future__ import annotations

from warehouse.settings.lakehouse import (  # noqa: F401
    Settings,
    lake_at,
    load_settings,
    settings,
    sync_key,
)
from warehouse.settings.profile import (  # noqa: F401
    DAGSTER_YAML,
    DAGSTER_YAML_SERVER,
    FUTURE_TOLERANCE,
    IN_PROGRESS_MAX_AGE,
    LATE_WATERMARK_DAYS,
    PROFILES,
    THIRD_PARTY_ENV,
    ServiceUnavailable,
    SettingsError,
    drop_pg_database,
    ensure_pg_database,
    object_store_options,
)
from warehouse.settings.secrets import (  # noqa: F401
    DEFAULT_KEY_ID,
    DEFAULT_NODE_URL,
    DEMO_KEY_ID,
    DP_BUDGET_ENV,
    DP_EPSILON_ENV,
    KEY_ENV,
    KEY_FILE,
    KEY_ID_ENV,
    NATIONAL,
    NODE_URL_ENV,
    SECRETS_DIR,
    ChannelAccess,
    SyncKey,
    SyncPrivacy,
    channel_env,
    demo_key,
)
from warehouse.settings.services import (  # noqa: F401
    AlertSettings,
    CollectorSettings,
    load_alert_settings,
    load_collector_settings,
)
