"""The profile switch: one environment variable picks the Dagster instance configuration, nothing else."""

import json
import os
from pathlib import Path

import pytest

from warehouse.settings import (
    DAGSTER_YAML,
    THIRD_PARTY_ENV,
    SettingsError,
    load_settings,
    object_store_options,
)


def _settings(tmp_path: Path, **env: str):
    return load_settings({"LAKEHOUSE_HOME": str(tmp_path / "home")} | env)


def _prepare(s, monkeypatch) -> None:
    """s.prepare() exports the settings into os.environ: undone after the test, so no later test in this
    process runs against this test's (deleted) home or object store."""
    for name, value in s.as_env().items():
        monkeypatch.setenv(name, value)
    s.prepare()


def test_default_profile_is_embedded_with_sqlite_instance(tmp_path):
    s = _settings(tmp_path)
    assert s.profile == "embedded"
    assert "postgres" not in s.dagster_yaml()
    assert "LAKEHOUSE_PG_URL" not in s.as_env()


def test_unknown_profile_is_a_clear_error(tmp_path):
    with pytest.raises(SettingsError, match="LAKEHOUSE_PROFILE='cluster'"):
        _settings(tmp_path, LAKEHOUSE_PROFILE="cluster")


def test_server_profile_reads_postgres_url_from_the_environment_not_the_file(tmp_path):
    s = _settings(tmp_path, LAKEHOUSE_PROFILE="server", LAKEHOUSE_PG_URL="postgresql://u:secret@db:5432/lh")
    text = s.dagster_yaml()
    assert "env: LAKEHOUSE_DAGSTER_PG_URL" in text and "secret" not in text
    assert s.as_env()["LAKEHOUSE_PG_URL"] == "postgresql://u:secret@db:5432/lh"
    assert s.as_env()["LAKEHOUSE_DAGSTER_PG_URL"] == "postgresql+psycopg2://u:secret@db:5432/lh"


def test_server_profile_queues_runs_with_per_job_limits(tmp_path):
    text = _settings(tmp_path, LAKEHOUSE_PROFILE="server", LAKEHOUSE_MAX_DAILY_RUNS="3").dagster_yaml()
    assert "QueuedRunCoordinator" in text
    assert "value: daily\n        limit: 3" in text
    assert "value: sync\n        limit: 1" in text


def test_each_home_gets_its_own_default_database(tmp_path):
    a = load_settings({"LAKEHOUSE_HOME": str(tmp_path / "a"), "LAKEHOUSE_PROFILE": "server"})
    b = load_settings({"LAKEHOUSE_HOME": str(tmp_path / "b"), "LAKEHOUSE_PROFILE": "server"})
    assert a.pg_database_url != b.pg_database_url
    assert a.pg_database_url.startswith("postgresql://postgres@127.0.0.1:5432/lakehouse_")


def test_prepare_writes_the_profile_yaml_but_keeps_a_hand_written_one(tmp_path, monkeypatch):
    s = _settings(tmp_path)
    _prepare(s, monkeypatch)
    yaml = s.dagster_home / "dagster.yaml"
    assert yaml.read_text() == DAGSTER_YAML
    yaml.write_text("# mine\ntelemetry:\n  enabled: false\n")
    _prepare(s, monkeypatch)
    assert yaml.read_text().startswith("# mine")


def test_object_store_options_use_conditional_writes_and_allow_http_only_for_an_http_endpoint():
    local = object_store_options({"LAKEHOUSE_S3_ENDPOINT": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "k"})
    assert local["conditional_put"] == "etag" and local["AWS_ALLOW_HTTP"] == "true"
    assert local["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000" and local["AWS_ACCESS_KEY_ID"] == "k"
    aws = object_store_options({})
    assert "AWS_ALLOW_HTTP" not in aws and "AWS_ENDPOINT_URL" not in aws


def test_lake_uri_points_every_reader_at_the_object_store_and_keys_are_never_printed(tmp_path, monkeypatch):
    s = _settings(
        tmp_path,
        LAKEHOUSE_LAKE_URI="s3://lake/province/",
        LAKEHOUSE_S3_ENDPOINT="http://127.0.0.1:9000",
        AWS_ACCESS_KEY_ID="key-id",
        AWS_SECRET_ACCESS_KEY="very-secret",
    )
    lake = s.open_lake()
    assert lake.remote and lake.uri == "s3://lake/province"
    assert lake.storage_options["AWS_SECRET_ACCESS_KEY"] == "very-secret"
    assert lake.storage_options["conditional_put"] == "etag"
    assert "very-secret" not in repr(s) and "very-secret" not in str(s.as_env())
    assert s.as_env()["LAKEHOUSE_LAKE_URI"] == "s3://lake/province"
    _prepare(s, monkeypatch)
    assert not (s.home / "lake").exists()  # nothing of a remote lake goes to the home's folder


def test_without_lake_uri_the_lake_is_the_homes_folder(tmp_path):
    s = _settings(tmp_path)
    lake = s.open_lake()
    assert not lake.remote and lake.root == s.home / "lake" and lake.storage_options == {}


def test_lake_uri_must_be_s3(tmp_path):
    with pytest.raises(SettingsError, match="LAKEHOUSE_LAKE_URI='/data/lake'"):
        _settings(tmp_path, LAKEHOUSE_LAKE_URI="/data/lake")


def test_shards_run_on_celery_only_in_the_server_profile_on_a_queue_per_home(tmp_path):
    assert _settings(tmp_path).shard_executor == "local"
    server = _settings(tmp_path, LAKEHOUSE_PROFILE="server")
    other = load_settings({"LAKEHOUSE_HOME": str(tmp_path / "other"), "LAKEHOUSE_PROFILE": "server"})
    assert server.shard_executor == "celery" and server.workers == 2
    assert server.shard_queue.startswith("lakehouse_shards_") and server.shard_queue != other.shard_queue
    secret = _settings(tmp_path, LAKEHOUSE_CELERY_BROKER="amqp://u:hush@mq:5672//")
    assert "hush" not in repr(secret)


def test_sync_key_is_read_here_and_never_printed_or_exported(tmp_path):
    s = _settings(tmp_path, LAKEHOUSE_SYNC_KEY="s3cret-from-store", LAKEHOUSE_SYNC_KEY_ID="k7")
    assert (s.sync_key().key_id, s.sync_key().secret) == ("k7", "s3cret-from-store")
    assert "s3cret-from-store" not in repr(s) and "s3cret-from-store" not in repr(s.sync_key())
    assert "s3cret-from-store" not in " ".join(s.as_env().values())
    demo = _settings(tmp_path)  # no key in the environment: the home's demo key, stable
    assert demo.sync_key().source.startswith("demo key in") and demo.sync_key() == demo.sync_key()
    assert _settings(tmp_path, LAKEHOUSE_SYNC_NODE_URL="http://node:9").sync_node_url == "http://node:9"


def test_importing_the_code_location_changes_no_environment_variable(tmp_path):
    """Importing it used to export the home's settings and its sync key into os.environ, which leaked a
    key into later tests of the same process (stop 11's CI failure), and to set GX_ANALYTICS_ENABLED.
    The whole environment is compared; only polars' own allocator variable, set by `import polars`, is
    not ours."""
    import subprocess
    import sys

    probe = (
        "import json, os; before = dict(os.environ); import orchestration.definitions as d; "
        "d.defs.resolve_job_def('daily_job'); after = dict(os.environ); "
        "print(json.dumps(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "DAGSTER_HOME"))}
    env = {k: v for k, v in env.items() if k not in (*THIRD_PARTY_ENV, "_RJEM_MALLOC_CONF")}
    env["LAKEHOUSE_HOME"] = str(tmp_path / "home")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert set(json.loads(out.stdout.strip().splitlines()[-1])) <= {"_RJEM_MALLOC_CONF"}


def test_prepare_turns_third_party_telemetry_off_but_keeps_an_operators_value(tmp_path, monkeypatch):
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "")  # recorded, so the test's value is undone afterwards
    monkeypatch.delenv("GX_ANALYTICS_ENABLED")
    _prepare(_settings(tmp_path), monkeypatch)
    assert os.environ["GX_ANALYTICS_ENABLED"] == "false"
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "true")
    _prepare(_settings(tmp_path), monkeypatch)
    assert os.environ["GX_ANALYTICS_ENABLED"] == "true"
