"""Shard tasks and results cross the broker as JSON (never pickle) and come back equal."""

import datetime as dt

import polars as pl
from kombu.utils.json import dumps, loads

import assets.telemetry.workers as workers
from assets.telemetry.shards import ShardResult, ShardTask
from warehouse.storage import StagedFile


def test_a_shard_task_and_its_result_survive_the_json_round_trip():
    tail = pl.DataFrame(
        {"equipment_id": ["E1"], "ts_utc": [dt.datetime(2026, 11, 1, 15, 59, tzinfo=dt.UTC)], "value": [1.5]}
    )
    task = ShardTask(
        lake="s3://lake/p",
        day=dt.date(2026, 11, 2),
        shard=2,
        shards=5,
        run_id="r",
        future_tolerance=dt.timedelta(minutes=60),
        tail=tail,
    )
    back = loads(dumps({"args": [task]}))["args"][0]
    assert isinstance(back, ShardTask) and back.day == task.day and back.kgce == task.kgce
    assert back.future_tolerance == task.future_tolerance and back.tail.equals(tail)
    assert back.tail.schema == tail.schema

    staged = StagedFile(
        "silver.telemetry", "day=2026-11-02/p.parquet", 10, (("day", "2026-11-02"),), 1, "{}", 3
    )
    frame = pl.DataFrame({"x": [1.25]})
    result = ShardResult(
        shard=2,
        staged={"silver.telemetry": [staged]},
        landed=4,
        clean=3,
        quarantined=1,
        duplicates=0,
        reasons={"bad": 1},
        flags={"good": 3},
        equipment_reporting=1,
        energy=frame,
        equipment=frame,
        silver_head=frame,
        quarantine_head=frame,
        seconds={"read": 0.5},
        peak_rss_bytes=7,
        pid=9,
        worker="w1",
        redelivered=True,
    )
    got = loads(dumps(result))
    assert got.staged == result.staged and got.staged["silver.telemetry"][0].add_action().path == staged.path
    assert got.energy.equals(frame) and got.redelivered and got.reasons == {"bad": 1}


def test_the_celery_app_accepts_json_only():
    assert workers.app.conf.accept_content == ["json"]
    assert workers.app.conf.task_acks_late and workers.app.conf.task_reject_on_worker_lost


def _result(shard: int) -> ShardResult:
    frame = pl.DataFrame({"x": [1.0]})
    return ShardResult(
        shard=shard,
        staged={},
        landed=0,
        clean=0,
        quarantined=0,
        duplicates=0,
        reasons={},
        flags={},
        equipment_reporting=0,
        energy=frame,
        equipment=frame,
        silver_head=frame,
        quarantine_head=frame,
        seconds={},
        peak_rss_bytes=0,
        pid=0,
    )


def _task() -> ShardTask:
    return ShardTask(lake="/nowhere", day=dt.date(2026, 11, 2), shard=1, shards=3, run_id="r")


def test_a_shard_that_hits_an_io_error_is_sent_again_and_says_how_often(monkeypatch):
    attempts = []

    def flaky(task):
        attempts.append(task.shard)
        if len(attempts) < 3:
            raise ConnectionResetError("object store reset the connection")
        return _result(task.shard)

    monkeypatch.setattr(workers, "build_shard", flaky)
    got = workers.build_shard_task.apply(args=(_task(),)).get()  # Celery's retry, executed eagerly
    assert attempts == [1, 1, 1] and got.retries == 2 and got.shard == 1
    assert workers.build_shard_task.max_retries == 2  # LAKEHOUSE_SHARD_RETRIES' default


def test_a_shard_that_keeps_failing_or_fails_on_its_rows_is_not_retried_for_ever(monkeypatch):
    attempts = []

    def broken_store(task):
        attempts.append(task.shard)
        raise OSError("store unreachable")

    monkeypatch.setattr(workers, "build_shard", broken_store)
    outcome = workers.build_shard_task.apply(args=(_task(),))
    assert isinstance(outcome.result, OSError) and len(attempts) == 1 + workers.build_shard_task.max_retries

    def bad_rows(task):
        attempts.append(task.shard)
        raise ValueError("a rule the rows break")

    attempts.clear()
    monkeypatch.setattr(workers, "build_shard", bad_rows)
    outcome = workers.build_shard_task.apply(args=(_task(),))
    assert isinstance(outcome.result, ValueError) and attempts == [1]  # the same rows fail the same way
