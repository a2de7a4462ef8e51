"""A batch on the wire: the released table as Arrow IPC bytes, its manifest, and the request body.

The payload holds only data (no batch id, version or time), written with a fixed schema and no
compression, so the same figures give the same bytes and the same SHA-256: comparing that hash with the
last acknowledged one is how a rebuilt day is recognized as a restatement (or as unchanged).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from assets.sync.measures import (
    DISCLOSURE_THRESHOLD,
    DOMINANCE_K,
    DOMINANCE_N,
    MEASURES,
    SCHEMA_VERSION,
    Measure,
    groups,
    released,
)

PAYLOAD_FORMAT = "arrow-ipc-stream"
_DIMENSIONS = [
    pa.field("day", pa.string(), nullable=False),
    pa.field("level", pa.string(), nullable=False),
    pa.field("city_code", pa.string(), nullable=False),
    pa.field("industry_code", pa.string(), nullable=False),
]


def wire_schema(measures: tuple[Measure, ...] = MEASURES, noise: tuple[str, ...] = ()) -> pa.Schema:
    """The payload's columns; `noise` names the groups whose noise mark column is sent (DP on)."""
    return pa.schema(
        [
            *_DIMENSIONS,
            *(
                f
                for g in groups(measures)
                for f in (
                    pa.field(g.flag, pa.bool_(), nullable=False),
                    pa.field(g.reason, pa.string()),
                    *([pa.field(g.noise, pa.string())] if g.name in noise else []),
                )
            ),
            *(pa.field(m.name, pa.int64() if m.integer else pa.float64()) for m in released(measures)),
        ]
    )


def noise_groups(frame: pl.DataFrame, measures: tuple[Measure, ...] = MEASURES) -> tuple[str, ...]:
    """The disclosure groups whose noise mark the released frame carries (differential privacy on)."""
    return tuple(g.name for g in groups(measures) if g.noise and g.noise in frame.columns)


def payload_bytes(frame: pl.DataFrame, measures: tuple[Measure, ...] = MEASURES) -> bytes:
    """The released frame as a deterministic Arrow IPC stream."""
    schema = wire_schema(measures, noise_groups(frame, measures))
    table = frame.select(schema.names).to_arrow().cast(schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def batch_id(province: str, period: str, version: int, channel: str = "national") -> str:
    """Deterministic, so a re-send after a crash carries the same Idempotency-Key. The node is not in it:
    each node keeps its own keys, and the ledger keys a batch by node, channel and batch id."""
    if channel == "national":
        return f"{province}-{period}-v{version}"
    return f"{province}-{channel}-{period}-v{version}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Batch:
    batch_id: str
    period: str
    version: int
    manifest: dict
    payload: bytes = field(repr=False)

    @property
    def payload_sha256(self) -> str:
        return self.manifest["payload_sha256"]

    def body(self) -> bytes:
        """The request body: `{"manifest": ..., "payload": base64}` as compact, key-sorted JSON."""
        envelope = {"manifest": self.manifest, "payload": base64.b64encode(self.payload).decode()}
        return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()


def make_batch(
    *,
    province: str,
    period: str,
    version: int,
    payload: bytes,
    rows: int,
    cells_suppressed: int,
    source_versions: dict[str, int | None],
    measures: tuple[Measure, ...] = MEASURES,
    created_at: dt.datetime | None = None,
    channel: str = "national",
    noise: tuple[str, ...] = (),
    epsilon: float | None = None,
) -> Batch:
    """The batch of one period and version, with its manifest."""
    bid = batch_id(province, period, version, channel)
    manifest = {
        "batch_id": bid,
        "node": province,
        "period": period,
        "version": version,
        "schema_version": SCHEMA_VERSION,
        "payload_format": PAYLOAD_FORMAT,
        "rows": rows,
        "payload_sha256": sha256(payload),
        "cells_suppressed": cells_suppressed,
        "disclosure_threshold": DISCLOSURE_THRESHOLD,
        "dominance_rule": {"n": DOMINANCE_N, "k": DOMINANCE_K},
        "disclosure_groups": [
            {"name": g.name, "flag": g.flag, "reason": g.reason}
            | ({"noise": g.noise} if g.name in noise else {})
            for g in groups(measures)
        ],
        "measures": [
            {"name": m.name, "grade": m.grade, "unit": m.unit, "group": m.group.name}
            for m in released(measures)
        ],
        "source_versions": source_versions,
        "created_at": (created_at or dt.datetime.now(dt.UTC)).isoformat(),
    }
    if noise and epsilon is not None:  # per enterprise of a noisy entry, per release of the period
        manifest["differential_privacy"] = {"mechanism": "laplace", "epsilon": epsilon}
    return Batch(bid, period, version, manifest, payload)
