"""Checks on a batch's manifest and payload, and the summary the read API shows.

The center checks what it can without trusting the sender: the payload is what the manifest says (hash,
rows, period, schema version) and the release policy visibly holds (no grade-3 measure, every released
grade-2 cell covers at least DISCLOSURE_THRESHOLD enterprises, suppressed cells carry no grade-2 value).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json

import pyarrow as pa

from national_node.errors import Rejected
from national_node.wire import DISCLOSURE_THRESHOLD, PAYLOAD_FORMAT, SCHEMA_VERSIONS

DIMENSIONS = ("day", "level", "city_code", "industry_code")
# schema version 1 had one disclosure group and no `disclosure_groups` in the manifest
DEFAULT_GROUPS = [{"name": "energy", "flag": "suppressed", "reason": "suppression"}]
LEVELS = frozenset({"cell", "city_total", "industry_total", "province_total"})
_MANIFEST_FIELDS = {
    "batch_id": str,
    "node": str,
    "period": str,
    "version": int,
    "schema_version": str,
    "payload_format": str,
    "rows": int,
    "payload_sha256": str,
    "cells_suppressed": int,
    "measures": list,
    "source_versions": dict,
}


def _invalid(detail: str) -> Rejected:
    return Rejected(422, "invalid_batch", detail)


def parse_envelope(body: bytes) -> tuple[dict, bytes]:
    """The manifest and the decoded payload bytes of a request body."""
    try:
        envelope = json.loads(body)
        manifest, payload_b64 = envelope["manifest"], envelope["payload"]
        payload = base64.b64decode(payload_b64, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise Rejected(
            400, "malformed_body", f"body is not a JSON envelope {{manifest, payload (base64)}}: {exc}"
        ) from exc
    if not isinstance(manifest, dict):
        raise Rejected(400, "malformed_body", "manifest is not a JSON object")
    for name, kind in _MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(name), kind) or isinstance(manifest.get(name), bool):
            raise _invalid(f"manifest.{name} missing or not {kind.__name__}")
    return manifest, payload


def check_batch(manifest: dict, payload: bytes, *, node: str, idempotency_key: str) -> pa.Table:
    """Validate a batch against its manifest and the release policy; the payload as an Arrow table."""
    if manifest["node"] != node:
        raise _invalid(f"manifest.node {manifest['node']!r} is not the signing node {node!r}")
    if manifest["batch_id"] != idempotency_key:
        raise _invalid(
            f"Idempotency-Key {idempotency_key!r} is not manifest.batch_id {manifest['batch_id']!r}"
        )
    if manifest["schema_version"] not in SCHEMA_VERSIONS:
        raise Rejected(
            422,
            "unsupported_schema_version",
            f"schema version {manifest['schema_version']!r}; this center reads {sorted(SCHEMA_VERSIONS)}",
        )
    if manifest["payload_format"] != PAYLOAD_FORMAT:
        raise _invalid(f"payload_format {manifest['payload_format']!r}; expected {PAYLOAD_FORMAT!r}")
    try:
        dt.date.fromisoformat(manifest["period"])
    except ValueError as exc:
        raise _invalid(f"period {manifest['period']!r} is not a local day YYYY-MM-DD") from exc
    if manifest["version"] < 1:
        raise _invalid("version starts at 1")
    digest = hashlib.sha256(payload).hexdigest()
    if digest != manifest["payload_sha256"]:
        raise Rejected(
            422,
            "payload_hash_mismatch",
            f"payload SHA-256 {digest} is not the manifest's {manifest['payload_sha256']}",
        )
    try:
        table = pa.ipc.open_stream(payload).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise _invalid(f"payload is not an Arrow IPC stream: {exc}") from exc
    if table.num_rows != manifest["rows"]:
        raise _invalid(f"payload has {table.num_rows} rows, manifest says {manifest['rows']}")
    measures = {m["name"]: int(m["grade"]) for m in manifest["measures"]}
    groups = _groups(manifest)
    flag_of = {g["name"]: g["flag"] for g in groups}
    try:
        group_of = {m["name"]: flag_of[m.get("group", "energy")] for m in manifest["measures"]}
    except KeyError as exc:
        raise _invalid(f"a measure names an undeclared disclosure group {exc}") from exc
    expected = [*DIMENSIONS, *(c for g in groups for c in (g["flag"], g["reason"])), *measures]
    if table.column_names != expected:
        raise _invalid(f"payload columns {table.column_names}; manifest declares {expected}")
    if grade3 := sorted(n for n, g in measures.items() if g >= 3):
        raise Rejected(422, "disclosure_violation", f"grade-3 measures never leave a province: {grade3}")
    rows = table.to_pylist()
    if any(r["day"] != manifest["period"] for r in rows):
        raise _invalid(f"rows outside period {manifest['period']}")
    if bad := sorted({r["level"] for r in rows} - LEVELS):
        raise _invalid(f"unknown levels {bad}")
    grade2 = [n for n, g in measures.items() if g == 2]
    for r in rows:
        cell = f"{r['level']} {r['city_code']}/{r['industry_code']}"
        if any(r[group_of[m]] and r[m] is not None for m in grade2):
            raise Rejected(422, "disclosure_violation", f"suppressed {cell} carries grade-2 values")
        n = r.get("enterprises")
        if not r["suppressed"] and n is not None and 0 < n < DISCLOSURE_THRESHOLD:
            raise Rejected(
                422,
                "disclosure_violation",
                f"{cell} is released with {n} enterprise(s) (< {DISCLOSURE_THRESHOLD})",
            )
    if suppressed_entries(rows, groups) != manifest["cells_suppressed"]:
        raise _invalid("manifest.cells_suppressed does not match the payload's suppressed rows")
    return table


def _groups(manifest: dict) -> list[dict]:
    groups = manifest.get("disclosure_groups", DEFAULT_GROUPS)
    if not isinstance(groups, list) or not all(
        isinstance(g, dict) and all(isinstance(g.get(k), str) for k in ("name", "flag", "reason"))
        for g in groups
    ):
        raise _invalid("manifest.disclosure_groups must list {name, flag, reason}")
    return groups


def suppressed_entries(rows: list[dict], groups: list[dict]) -> int:
    """Withheld entries over all disclosure groups (a row withheld for energy and trading counts twice)."""
    return sum(bool(r.get(g["flag"])) for r in rows for g in groups)


def summary(payload: bytes, *, include_rows: bool) -> dict:
    """Rows, cells and suppressions of a stored payload, the province total, optionally every row."""
    rows = pa.ipc.open_stream(payload).read_all().to_pylist()
    total = next((r for r in rows if r["level"] == "province_total"), None)
    out = {
        "rows": len(rows),
        "cells": sum(r["level"] == "cell" for r in rows),
        "suppressed": sum(bool(r.get(flag)) for r in rows for flag in _flags(rows)),
        "province_total": total,
    }
    if include_rows:
        out["data"] = rows
    return out


def _flags(rows: list[dict]) -> list[str]:
    """The disclosure-group flag columns of a stored payload (boolean columns named *suppressed)."""
    return [c for c in (rows[0] if rows else {}) if c.endswith("suppressed")]
