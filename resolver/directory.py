"""What the resolver answers: one pre-rendered profile per handle and audience, rebuilt when the lake moves.

Fields follow the registry's column grades: an anonymous caller gets grade-1 fields, an authenticated
peer grade 1 and 2 (personal data masked as in every view beyond silver), nobody grade 3. The answers
are rendered to JSON bytes once per build, so a resolution is a dictionary lookup.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import polars as pl

from warehouse.privacy import MASKS
from warehouse.registry import DATA_PRODUCT, ENTERPRISE, EQUIPMENT, IDENTIFIER, TableSpec
from warehouse.storage import Lake

SOURCES = (IDENTIFIER, ENTERPRISE, EQUIPMENT, DATA_PRODUCT)
_HIDDEN = {"valid_to", "row_hash"}  # bookkeeping, not part of a profile
PEER_GRADE, ANON_GRADE = 2, 1


@dataclass(frozen=True)
class Entry:
    status: str  # active | revoked
    object_type: str
    body: dict[str, bytes]  # audience -> JSON answer (200 when active, 410 when revoked)


def _fields(spec: TableSpec, grade: int) -> list[pl.Expr]:
    out = []
    for c in spec.columns:
        if c.name in _HIDDEN or c.grade > grade:
            continue
        out.append(MASKS[c.pii](c.name).alias(c.name) if c.pii else pl.col(c.name))
    return out


def _records(df: pl.DataFrame, spec: TableSpec, key: str, grade: int) -> dict[str, dict]:
    frame = df.select(pl.col(key).alias("__key"), *_fields(spec, grade))
    out = {}
    for row in frame.iter_rows(named=True):
        k = row.pop("__key")
        out[k] = {n: (v.isoformat() if isinstance(v, dt.date | dt.datetime) else v) for n, v in row.items()}
    return out


def _render(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def build_directory(lake: Lake) -> dict[str, Entry]:
    """handle -> Entry, from silver.identifier and the current rows of the objects it names."""
    if not lake.exists(IDENTIFIER):
        return {}
    ids = lake.read(IDENTIFIER)
    read = {s.name: lake.read(s) if lake.exists(s) else pl.DataFrame(schema=s.schema) for s in SOURCES[1:]}
    ent = read[ENTERPRISE.name].filter(pl.col("valid_to").is_null())
    eq = read[EQUIPMENT.name]
    dp = read[DATA_PRODUCT.name]
    enterprise_handle = dict(
        ids.filter(pl.col("object_type") == "enterprise").select("object_key", "handle").iter_rows()
    )
    profiles: dict[str, dict[str, dict]] = {}
    for audience, grade in (("anonymous", ANON_GRADE), ("peer", PEER_GRADE)):
        lines = eq.group_by("line_id").agg(
            pl.col("uscc").sort().first(),
            pl.col("site_id").first(),
            pl.col("area_id").first(),
            pl.col("equipment_id").sort().alias("equipment"),
        )
        profiles[audience] = {
            "enterprise": _records(ent, ENTERPRISE, "uscc", grade),
            "equipment": _records(eq, EQUIPMENT, "equipment_id", grade),
            "data_product": _records(dp, DATA_PRODUCT, "product_id", grade),
            "line": {
                r["line_id"]: {k: v for k, v in r.items()} for r in lines.iter_rows(named=True)
            },  # every field of a line is grade 1 (silver.equipment's)
        }
    directory = {}
    for handle, object_type, key, uscc, issued_at, status, revoked_at in ids.select(
        "handle", "object_type", "object_key", "uscc", "issued_at", "status", "revoked_at"
    ).iter_rows():
        body = {}
        for audience in ("anonymous", "peer"):
            head = {
                "handle": handle,
                "object_type": object_type,
                "object_key": key,
                "status": status,
                "issued_at": issued_at.isoformat(),
                "enterprise_handle": enterprise_handle.get(uscc),
                "audience": audience,
                "max_grade": ANON_GRADE if audience == "anonymous" else PEER_GRADE,
            }
            if status == "revoked":
                payload = {
                    "error": "revoked",
                    "detail": f"handle {handle} was revoked; it is never given to another object",
                    **head,
                    "revoked_at": revoked_at.isoformat() if revoked_at else None,
                }
            else:
                payload = {**head, "profile": profiles[audience][object_type].get(key)}
            body[audience] = _render(payload)
        directory[handle] = Entry(status, object_type, body)
    return directory


def source_versions(lake: Lake) -> tuple:
    """Delta versions of the tables the directory is built from: a change means rebuild."""
    return tuple(lake.version(s) if lake.exists(s) else None for s in SOURCES)
