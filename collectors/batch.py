"""The micro-batch writer every collector shares: readings -> durable landing Parquet, bad messages -> dead letter.

A batch becomes visible only when complete and durable: written to a hidden temp file in its final folder,
fsynced, renamed, and the folder fsynced. The landing sensor lists only *.parquet/*.csv/*.jsonl, so a temp
file left by a crash is never read; the next start removes it. Only after `flush` returns may the caller
acknowledge the messages the batch holds (MQTT manual acks): a crash before that means redelivery, never loss.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.contracts import TELEMETRY_FIELDS as LANDING_FIELDS
from warehouse.contracts import TELEMETRY_QUALITY_FIELD as QUALITY_FIELD
from warehouse.domain import TIMEZONE
from warehouse.durable import fsync_path

_TZ = ZoneInfo(TIMEZONE)
COLUMNS = (*LANDING_FIELDS, QUALITY_FIELD)
_SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS])


@dataclass
class Batch:
    """Readings and dead letters received since the last flush, with what to acknowledge after it."""

    columns: dict[str, list[str | None]] = field(default_factory=lambda: {c: [] for c in COLUMNS})
    dead: list[dict] = field(default_factory=list)
    acks: list[tuple] = field(default_factory=list)  # opaque tokens the collector acknowledges after flush
    sent_at: list[float] = field(default_factory=list)  # optional publish times, for latency
    first_at: float | None = None
    messages: int = 0

    @property
    def readings(self) -> int:
        return len(self.columns["uscc"])

    def due(self, flush_readings: int, flush_seconds: float) -> bool:
        """Time to flush: M readings held, or N seconds since the first message of the batch."""
        if not self.messages:
            return False
        return self.readings >= flush_readings or time.monotonic() - (self.first_at or 0) >= flush_seconds

    def add(self, records: list[dict], ack: tuple | None = None, sent_at: float | None = None) -> None:
        for c in COLUMNS:
            self.columns[c].extend(r.get(c) for r in records)
        self._touch(ack, sent_at)

    def add_dead(self, entry: dict, ack: tuple | None = None) -> None:
        self.dead.append(entry)
        self._touch(ack, None)

    def _touch(self, ack: tuple | None, sent_at: float | None) -> None:
        self.messages += 1
        if ack is not None:
            self.acks.append(ack)
        if sent_at is not None:
            self.sent_at.append(sent_at)
        if self.first_at is None:
            self.first_at = time.monotonic()


def dead_letter_entry(source: str, topic: str, payload: bytes, reason: str, detail: str) -> dict:
    """One dead-letter line: the message exactly as received (text, or base64 when not UTF-8) and why."""
    try:
        body, encoding = payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(payload).decode("ascii"), "base64"
    return {
        "received_at": dt.datetime.now(dt.UTC).isoformat(),
        "source": source,
        "topic": topic,
        "reason": reason,
        "detail": detail,
        "payload": body,
        "payload_encoding": encoding,
    }


def durable_write(path: Path, write) -> None:
    """temp file in the same folder -> fsync -> rename -> fsync folder: all or nothing, and on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


class LandingWriter:
    """Writes batches of one collector (`writer_id`) under landing/telemetry/collector/<source>/<day>/."""

    def __init__(self, landing: Path, source: str, writer_id: str) -> None:
        self.telemetry_dir = landing / "telemetry" / "collector" / source
        self.dead_dir = landing / "dead_letter" / source
        self.writer_id = writer_id
        self._seq = 0
        for folder in (self.telemetry_dir, self.dead_dir):
            for tmp in folder.rglob(f".{writer_id}-*.tmp") if folder.is_dir() else []:
                tmp.unlink()  # a batch a crash left half-written; its messages were never acknowledged

    def _name(self, suffix: str) -> tuple[str, str]:
        now = dt.datetime.now(_TZ)
        self._seq += 1
        return (
            now.date().isoformat(),
            f"{self.writer_id}-{now:%Y%m%dT%H%M%S%f}-{os.getpid()}-{self._seq}{suffix}",
        )

    def flush(self, batch: Batch) -> list[Path]:
        """Write the batch's readings and dead letters durably; return the files written."""
        written = []
        if batch.readings:
            day, name = self._name(".parquet")
            table = pa.table({c: pa.array(batch.columns[c], pa.string()) for c in COLUMNS}, schema=_SCHEMA)
            path = self.telemetry_dir / day / name
            durable_write(path, lambda fh: pq.write_table(table, fh, compression="zstd"))
            written.append(path)
        if batch.dead:
            day, name = self._name(".jsonl")
            text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in batch.dead)
            path = self.dead_dir / day / name
            durable_write(path, lambda fh: fh.write(text.encode("utf-8")))
            written.append(path)
        return written


@dataclass
class Status:
    """A collector's counters, rewritten (atomically, not fsynced) to status/<writer_id>.json as it runs."""

    path: Path
    totals: Counter = field(default_factory=Counter)
    dead_by_reason: Counter = field(default_factory=Counter)
    last_reading_by_uscc: dict[str, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # publish -> durable seconds, recent samples
    extra: dict = field(default_factory=dict)
    started_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def resume(cls, path: Path) -> Status:
        """Counters carry over restarts (the kill -9 case), so status shows lifetime totals."""
        status = cls(path)
        if path.exists():
            try:
                old = json.loads(path.read_text("utf-8"))
            except ValueError:
                return status
            status.totals.update(old.get("totals", {}))
            status.totals["restarts"] += 1
            status.dead_by_reason.update(old.get("dead_letters", {}))
            status.last_reading_by_uscc.update(old.get("last_reading_by_uscc", {}))
        status.save()  # so a process killed before its first flush still counts as a start
        return status

    def record_flush(self, batch: Batch, durable_at: float) -> None:
        with self.lock:
            self.totals["messages"] += batch.messages
            self.totals["readings"] += batch.readings
            self.totals["dead_letters"] += len(batch.dead)
            self.totals["flushes"] += 1
            self.dead_by_reason.update(e["reason"] for e in batch.dead)
            if batch.readings:
                now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                self.last_reading_by_uscc.update(dict.fromkeys(set(batch.columns["uscc"]), now))
            self.latencies.extend(durable_at - s for s in batch.sent_at)
            del self.latencies[:-20000]

    def snapshot(self) -> dict:
        with self.lock:
            lat = sorted(self.latencies)
            pct = {
                f"p{q}": round(lat[min(len(lat) - 1, int(len(lat) * q / 100))], 4)
                for q in (50, 95, 99)
                if lat
            }
            return {
                "writer_id": self.path.stem,
                "pid": os.getpid(),
                "started_at": self.started_at,
                "updated_at": dt.datetime.now(dt.UTC).isoformat(),
                "totals": dict(self.totals),
                "dead_letters": dict(self.dead_by_reason),
                "latency_s": pct if lat else {},
                "last_reading_by_uscc": dict(self.last_reading_by_uscc),
                **self.extra,
            }

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.snapshot(), indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, self.path)
