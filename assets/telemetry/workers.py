"""The day build's shards as Celery tasks (server profile): any worker on the broker builds any shard.

`lakehouse server up` starts LAKEHOUSE_WORKERS workers (`celery -A assets.telemetry.workers worker`,
solo pool: one process, one shard in memory at a time) consuming this home's queue. `run_on_workers`
sends one task per shard and waits for every result; the caller (`build_day`) then commits the day in
one transaction per table, exactly as in the embedded profile.

A worker killed mid-shard never acknowledged its task (acks_late), so the broker hands the task to
another worker; the shard is built again from the lake (files the dead attempt staged are orphans, never
committed, removed by the next build of the day) and its result says it was redelivered, which the day
build logs. With no worker left the run waits LAKEHOUSE_SHARD_TIMEOUT_S and fails. A shard that raises an
I/O error (the object store or the lake's files unreachable for a moment) is sent again by Celery's own
retry, up to LAKEHOUSE_SHARD_RETRIES times with a growing pause; its result counts the retries, which the
day build logs. Any other error fails the shard at once: the same rows would fail the same way again.

Tasks and results travel as JSON, never pickle (a worker must not run code a message names): ShardTask,
ShardResult and StagedFile as their fields, polars frames as Arrow IPC (base64), dates and durations as
text and seconds (`register_types`). Lake keys never travel in a task: a worker reads them from its own
environment.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import socket
from collections.abc import Callable

import polars as pl
from celery import Celery
from kombu.utils.json import register_type

from assets.telemetry.shards import ShardResult, ShardTask, build_shard
from warehouse.settings import Settings, settings
from warehouse.storage import StagedFile


def _frame_out(df: pl.DataFrame) -> str:
    buf = io.BytesIO()
    df.write_ipc(buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _frame_in(text: str) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(base64.b64decode(text)))


def _fields(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _staged_in(d: dict) -> StagedFile:
    return StagedFile(**(d | {"partition_values": tuple(tuple(p) for p in d["partition_values"])}))


def register_types() -> None:
    """What a shard task and its result carry, as JSON (kombu's encoder; decoded bottom-up)."""
    register_type(pl.DataFrame, "polars_ipc", _frame_out, _frame_in)
    register_type(dt.timedelta, "timedelta", lambda t: t.total_seconds(), lambda s: dt.timedelta(seconds=s))
    register_type(StagedFile, "staged_file", _fields, _staged_in)
    register_type(ShardTask, "shard_task", _fields, lambda d: ShardTask(**d))
    register_type(ShardResult, "shard_result", _fields, lambda d: ShardResult(**d))


register_types()


class NoWorkers(RuntimeError):
    """No Celery worker consumes this home's shard queue."""


def make_app(s: Settings) -> Celery:
    app = Celery("lakehouse", broker=s.celery_broker, backend="rpc://", set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,  # acknowledged when done: a task of a killed worker goes to another one
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker holds one shard, never a backlog another could take
        task_default_queue=s.shard_queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        result_persistent=False,
    )
    return app


app = make_app(settings())


@app.task(
    name="lakehouse.build_shard",
    bind=True,
    autoretry_for=(OSError,),  # transient: an unreachable store, a reset connection, a timeout
    max_retries=settings().shard_retries,
    retry_backoff=2,  # 2 s, 4 s, 8 s ... (capped at 60 s)
    retry_backoff_max=60,
    retry_jitter=False,
)
def build_shard_task(self, task: ShardTask) -> ShardResult:
    result = build_shard(task)
    result.worker = f"{self.request.hostname or socket.gethostname()}"
    result.redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    result.retries = int(self.request.retries or 0)
    return result


def workers_on_queue(queue: str, timeout: float = 3.0) -> list[str]:
    """Hostnames of the live workers consuming `queue` (asked over the broker)."""
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    return sorted(w for w, queues in replies.items() if any(q.get("name") == queue for q in queues))


def run_on_workers(
    tasks: list[ShardTask], *, on_shard: Callable[[ShardResult], None] | None = None
) -> list[ShardResult]:
    """Every shard task sent to the queue; their results in shard order (raises if a shard failed)."""
    s = settings()
    if not workers_on_queue(s.shard_queue):
        raise NoWorkers(
            f"no Celery worker consumes queue {s.shard_queue} (start them with `lakehouse server up`)"
        )
    pending = [build_shard_task.apply_async((t,), queue=s.shard_queue) for t in tasks]
    results = []
    try:
        for r in pending:
            result = r.get(timeout=s.shard_timeout_s, propagate=True, disable_sync_subtasks=False)
            results.append(result)
            if on_shard is not None:
                on_shard(result)
    except BaseException:
        for r in pending:
            r.revoke()  # a failed day leaves no shard queued behind it
        raise
    return results
