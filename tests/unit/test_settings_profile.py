"""The profile switch: one environment variable picks the Dagster instance configuration, nothing else."""

from pathlib import Path

import pytest

from warehouse.settings import DAGSTER_YAML, SettingsError, load_settings, object_store_options


def _settings(tmp_path: Path, **env: str):
    return load_settings({"LAKEHOUSE_HOME": str(tmp_path / "home")} | env)


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


def test_prepare_writes_the_profile_yaml_but_keeps_a_hand_written_one(tmp_path):
    s = _settings(tmp_path)
    s.prepare()
    yaml = s.dagster_home / "dagster.yaml"
    assert yaml.read_text() == DAGSTER_YAML
    yaml.write_text("# mine\ntelemetry:\n  enabled: false\n")
    s.prepare()
    assert yaml.read_text().startswith("# mine")


def test_object_store_options_use_conditional_writes_and_allow_http_only_for_an_http_endpoint():
    local = object_store_options({"LAKEHOUSE_S3_ENDPOINT": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "k"})
    assert local["conditional_put"] == "etag" and local["AWS_ALLOW_HTTP"] == "true"
    assert local["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9000" and local["AWS_ACCESS_KEY_ID"] == "k"
    aws = object_store_options({})
    assert "AWS_ALLOW_HTTP" not in aws and "AWS_ENDPOINT_URL" not in aws
