"""Checks on a batch's envelope, manifest and payload, and the summary the read API shows.

The center trusts nothing the sender says about disclosure: the manifest and every row are validated
by the strict models of `models.py`, measure grades and groups come from the center's own contract
(`contract.py`), and the release policy is re-checked per disclosure group: no grade-3 measure; a
released grade-2 entry needs its group's count (enterprises, trades) to be 0 or at least
DISCLOSURE_THRESHOLD; a withheld entry carries no grade-2 value; the declared threshold and dominance
rule are at least the center's; and no row or column of the table holds exactly one withheld entry
(it could be derived from the margin). An industry node (contract.Role) also refuses a measure outside
its contract or above its grade, and a row outside its divisions or levels. Differential privacy: a group may declare its noise-mark column
(`noise`, values from the closed set contract.NOISE); a withheld entry so marked may carry its group's
noisy sums (contract.Measure.noisy), never a count or a ratio, and an entry released exact carries no mark.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from national_node.contract import (
    DIMENSIONS,
    DISCLOSURE_THRESHOLD,
    DOMINANCE_K,
    DOMINANCE_N,
    GROUPS,
    MEASURES,
    NATIONAL_ROLE,
    SCHEMA_GROUPS,
    Group,
    Role,
)
from national_node.errors import Rejected
from national_node.models import Manifest, first_error, row_model
from national_node.wire import PAYLOAD_FORMAT, SCHEMA_VERSIONS

_SLICE_ROWS = 2_000
MAX_JSON_DEPTH = 8  # the envelope needs 4: {manifest: {measures: [{...}]}}
_OPEN, _CLOSE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


def _invalid(detail: str, field: str | None = None) -> Rejected:
    return Rejected(422, "invalid_batch", detail, **({"field": field} if field else {}))


def _violation(detail: str, field: str | None = None) -> Rejected:
    return Rejected(422, "disclosure_violation", detail, **({"field": field} if field else {}))


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays and objects in a JSON text (brackets inside strings do not count).

    Linear and without recursion, so a body nested 100,000 levels deep costs what its bytes cost.
    """
    data = np.frombuffer(body, np.uint8)
    quotes = data == ord('"')
    if quotes.any():  # a quote escaped by an odd run of backslashes does not end a string
        idx = np.flatnonzero(quotes)
        run = np.zeros(len(idx), np.int64)
        slashes = data == ord("\\")
        for k in range(1, 64):  # runs of up to 63 backslashes; longer ones are not a real envelope
            before = idx - k
            ok = (before >= 0) & (run == k - 1)
            ok[ok] &= slashes[before[ok]]
            run[ok] = k
        quotes[idx[run % 2 == 1]] = False
    inside = (np.cumsum(quotes) % 2 == 1) & ~quotes
    step = np.isin(data, _OPEN).astype(np.int8) - np.isin(data, _CLOSE).astype(np.int8)
    step[inside] = 0
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def parse_envelope(body: bytes) -> tuple[Manifest, dict, bytes]:
    """The validated manifest, the manifest as sent (to store), and the decoded payload bytes."""
    if json_depth(body) > MAX_JSON_DEPTH:
        raise Rejected(400, "malformed_body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        envelope = json.loads(body)
        manifest, payload_b64 = envelope["manifest"], envelope["payload"]
        payload = base64.b64decode(payload_b64, validate=True)
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error) as exc:
        raise Rejected(
            400,
            "malformed_body",
            f"body is not a JSON envelope {{manifest, payload (base64)}}: {type(exc).__name__}",
        ) from exc
    if not isinstance(manifest, dict):
        raise Rejected(400, "malformed_body", "manifest is not a JSON object")
    if set(envelope) != {"manifest", "payload"}:
        raise _invalid(f"unknown envelope fields {sorted(set(envelope) - {'manifest', 'payload'})}")
    try:
        model = Manifest.model_validate(manifest)
    except ValidationError as exc:
        field, detail = first_error(exc, "manifest")
        raise _invalid(detail, field) from exc
    return model, manifest, payload


def declared_groups(manifest: Manifest) -> list[Group]:
    """The disclosure groups the batch declares, as the center defines them (flags, counts); a group's
    `noise` is its mark column when the batch declares one, else empty."""
    allowed = SCHEMA_GROUPS[manifest.schema_version]
    if manifest.disclosure_groups is None:
        if manifest.differential_privacy is not None:
            raise _invalid("manifest.differential_privacy without a group's noise column", "manifest")
        return [replace(GROUPS["energy"], noise="")]
    out = []
    for i, g in enumerate(manifest.disclosure_groups):
        field = f"manifest.disclosure_groups.{i}"
        known = GROUPS.get(g.name)
        if known is None or g.name not in allowed or known in out:
            raise _invalid(f"{field}: group {g.name!r} is unknown or repeated (expected {allowed})", field)
        if (g.flag, g.reason) != (known.flag, known.reason):
            raise _invalid(f"{field}: group {g.name} is flagged by {known.flag}/{known.reason}", field)
        if g.noise is not None and g.noise != known.noise:
            raise _invalid(f"{field}.noise: group {g.name} marks noise in {known.noise!r}", f"{field}.noise")
        out.append(replace(known, noise=g.noise or ""))
    if any(g.noise for g in out) != (manifest.differential_privacy is not None):
        raise _invalid(
            "a noise column needs manifest.differential_privacy (mechanism, epsilon), and that needs one",
            "manifest.differential_privacy",
        )
    return out


def _check_role(manifest: Manifest, role: Role) -> None:
    """An industry node sees only its contract's measures, up to its grade."""
    for i, m in enumerate(manifest.measures):
        field = f"manifest.measures.{i}"
        if role.measures is not None and m.name not in role.measures:
            raise Rejected(
                422,
                "outside_contract",
                f"{field}: {m.name} is not a measure of the {role.name} node's contract",
                field=field,
            )
        if MEASURES[m.name].grade > role.max_grade:
            raise _violation(
                f"{field}: {m.name} is grade {MEASURES[m.name].grade}, above the {role.name} node's "
                f"highest grade {role.max_grade}",
                f"{field}.grade",
            )


def _check_manifest(manifest: Manifest, *, node: str, idempotency_key: str) -> list[Group]:
    if manifest.node != node:
        raise _invalid(f"manifest.node {manifest.node!r} is not the signing node {node!r}", "manifest.node")
    if manifest.batch_id != idempotency_key:
        raise _invalid(
            f"Idempotency-Key {idempotency_key!r} is not manifest.batch_id {manifest.batch_id!r}",
            "manifest.batch_id",
        )
    if manifest.schema_version not in SCHEMA_VERSIONS:
        raise Rejected(
            422,
            "unsupported_schema_version",
            f"schema version {manifest.schema_version!r}; this center reads {sorted(SCHEMA_VERSIONS)}",
            field="manifest.schema_version",
        )
    if manifest.payload_format != PAYLOAD_FORMAT:
        raise _invalid(f"manifest.payload_format: expected {PAYLOAD_FORMAT!r}", "manifest.payload_format")
    groups = declared_groups(manifest)
    names = {g.name for g in groups}
    seen: set[str] = set()
    for i, m in enumerate(manifest.measures):
        field = f"manifest.measures.{i}"
        known = MEASURES.get(m.name)
        if known is None or m.name in seen:
            raise _invalid(f"{field}.name: {m.name!r} is not a measure of this center, or repeated", field)
        seen.add(m.name)
        if m.grade >= 3 or known.grade >= 3:
            raise _violation(f"{field}: grade-3 measures never leave a province ({m.name})", f"{field}.grade")
        if m.grade != known.grade:
            raise _violation(
                f"{field}.grade: {m.name} is grade {known.grade} at this center, not {m.grade}",
                f"{field}.grade",
            )
        if m.group != known.group or known.group not in names:
            raise _invalid(f"{field}.group: {m.name} belongs to group {known.group!r}", f"{field}.group")
    if (t := manifest.disclosure_threshold) is not None and t < DISCLOSURE_THRESHOLD:
        raise _violation(
            f"manifest.disclosure_threshold {t} is below the center's {DISCLOSURE_THRESHOLD}",
            "manifest.disclosure_threshold",
        )
    if (d := manifest.dominance_rule) is not None and (d.n < DOMINANCE_N or d.k > DOMINANCE_K):
        raise _violation(
            f"manifest.dominance_rule ({d.n}, {d.k}) is weaker than the center's ({DOMINANCE_N}, {DOMINANCE_K})",
            "manifest.dominance_rule",
        )
    return groups


def _read_payload(payload: bytes) -> pa.Table:
    try:
        table = pa.ipc.open_stream(payload).read_all()
        table.validate(full=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _invalid(f"payload is not a valid Arrow IPC stream: {type(exc).__name__}", "payload") from exc
    return table


def check_batch(
    manifest: Manifest, payload: bytes, *, node: str, idempotency_key: str, role: Role = NATIONAL_ROLE
) -> list[dict]:
    """Validate a batch against its manifest, the center's contract, the node's role and the release
    policy; its rows."""
    groups = _check_manifest(manifest, node=node, idempotency_key=idempotency_key)
    _check_role(manifest, role)
    digest = hashlib.sha256(payload).hexdigest()
    if digest != manifest.payload_sha256:
        raise Rejected(
            422,
            "payload_hash_mismatch",
            f"payload SHA-256 {digest} is not the manifest's {manifest.payload_sha256}",
            field="manifest.payload_sha256",
        )
    table = _read_payload(payload)
    if table.num_rows != manifest.rows:
        raise _invalid(
            f"payload has {table.num_rows} rows, manifest.rows says {manifest.rows}", "manifest.rows"
        )
    measures = tuple(m.name for m in manifest.measures)
    flags = tuple((g.flag, g.reason, g.noise) if g.noise else (g.flag, g.reason) for g in groups)
    expected = [*DIMENSIONS, *(c for f in flags for c in f), *measures]
    if table.column_names != expected:
        raise _invalid(
            f"payload columns {table.column_names[:32]}; the manifest declares {expected}", "payload"
        )
    try:  # in slices: each conversion holds the GIL, so the event loop gets its turn in between
        rows = [r for b in table.to_batches(max_chunksize=_SLICE_ROWS) for r in b.to_pylist()]
    except (pa.ArrowException, ValueError) as exc:
        raise _invalid(f"payload values unreadable: {type(exc).__name__}", "payload") from exc
    model = row_model(flags, measures)
    for i, r in enumerate(rows):
        try:
            model.model_validate(r)
        except ValidationError as exc:
            field, detail = first_error(exc, f"payload.{i}")
            raise _invalid(detail, field) from exc
    _check_rows(rows, manifest, groups, measures, role)
    if suppressed_entries(rows, groups) != manifest.cells_suppressed:
        raise _invalid(
            "manifest.cells_suppressed does not match the payload's withheld entries",
            "manifest.cells_suppressed",
        )
    return rows


_LEVEL_SHAPE = {  # (city is ALL, industry is ALL) of each level
    "cell": (False, False),
    "city_total": (False, True),
    "industry_total": (True, False),
    "province_total": (True, True),
}


def _check_rows(
    rows: list[dict], manifest: Manifest, groups: list[Group], measures: tuple[str, ...], role: Role
) -> None:
    keys = set()
    for i, r in enumerate(rows):
        where = f"payload.{i}"
        if r["day"] != manifest.period:
            raise _invalid(f"{where}.day {r['day']} is outside period {manifest.period}", f"{where}.day")
        if r["level"] not in role.levels or (
            role.divisions is not None and r["industry_code"] not in role.divisions
        ):
            raise Rejected(
                422,
                "outside_contract",
                f"{where}: a {r['level']} row of division {r['industry_code']} is not for the "
                f"{role.name} node (divisions {sorted(role.divisions or [])}, levels {list(role.levels)})",
                field=where,
            )
        if _LEVEL_SHAPE[r["level"]] != (r["city_code"] == "ALL", r["industry_code"] == "ALL"):
            raise _invalid(
                f"{where}: a {r['level']} row with codes {r['city_code']}/{r['industry_code']}", where
            )
        key = (r["city_code"], r["industry_code"])
        if key in keys:
            raise _invalid(f"{where}: entry {key[0]}/{key[1]} appears twice", where)
        keys.add(key)
        for g in groups:
            _check_entry(r, g, measures, where)
    for g in groups:
        _check_lines(rows, g)


def _check_entry(r: dict, g: Group, measures: tuple[str, ...], where: str) -> None:
    """One row's entry of one disclosure group against the release policy."""
    cell = f"{where} ({r['level']} {r['city_code']}/{r['industry_code']})"
    grade2 = [m for m in measures if MEASURES[m].group == g.name and MEASURES[m].grade == 2]
    mark = r[g.noise] if g.noise else None
    if r[g.flag]:
        noisy = {m for m in grade2 if MEASURES[m].noisy} if mark else set()
        if carried := [m for m in grade2 if r[m] is not None and m not in noisy]:
            what = "exact " if mark else ""
            raise _violation(
                f"{cell}: withheld for {g.name} but carries {what}grade-2 values {carried}", where
            )
        if r[g.reason] is None:
            raise _invalid(f"{cell}: withheld for {g.name} without a reason", f"{where}.{g.reason}")
        return
    if any(r[m] is not None for m in grade2):
        n = r.get(g.count)
        if n is None:
            raise _violation(
                f"{cell}: released {g.name} values without their count {g.count}; "
                "the threshold cannot be checked",
                f"{where}.{g.count}",
            )
        if 0 < n < DISCLOSURE_THRESHOLD:
            raise _violation(
                f"{cell}: {g.name} values released with {g.count}={n} (< {DISCLOSURE_THRESHOLD})",
                f"{where}.{g.count}",
            )
    if r[g.reason] is not None:
        raise _invalid(f"{cell}: a {g.name} reason on an entry that is not withheld", f"{where}.{g.reason}")
    if mark is not None:
        raise _invalid(f"{cell}: a {g.name} noise mark on an entry released exact", f"{where}.{g.noise}")


def _check_lines(rows: list[dict], g: Group) -> None:
    """No row or column of the table (cells and margin) with exactly one withheld entry of the group:
    that entry would be its margin minus the others. A line whose margin is not in the batch (an industry
    node gets no city totals) binds nothing."""
    lines: dict[tuple[str, str], list[bool]] = defaultdict(list)
    margins: set[tuple[str, str]] = set()
    for r in rows:
        lines[("city", r["city_code"])].append(r[g.flag])
        lines[("industry", r["industry_code"])].append(r[g.flag])
        if r["industry_code"] == "ALL":
            margins.add(("city", r["city_code"]))
        if r["city_code"] == "ALL":
            margins.add(("industry", r["industry_code"]))
    for (axis, code), flags in sorted(lines.items()):
        if (axis, code) in margins and len(flags) > 1 and sum(flags) == 1:
            raise _violation(
                f"{g.name}: the {axis} line {code} holds exactly one withheld entry, derivable from the others",
                "payload",
            )


def noisy_entries(rows: list[dict], groups: list[Group]) -> int:
    """Withheld entries carrying a marked noisy estimate, over all disclosure groups."""
    return sum(r.get(g.noise) is not None for r in rows for g in groups if g.noise)


def suppressed_entries(rows: list[dict], groups: list[Group]) -> int:
    """Withheld entries over all disclosure groups (a row withheld for energy and trading counts twice)."""
    return sum(bool(r.get(g.flag)) for r in rows for g in groups)


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
    if marks := [c for c in (rows[0] if rows else {}) if c.endswith("noise")]:
        out["noisy"] = sum(r[c] is not None for r in rows for c in marks)
    if include_rows:
        out["data"] = rows
    return out


def _flags(rows: list[dict]) -> list[str]:
    """The disclosure-group flag columns of a stored payload (boolean columns named *suppressed)."""
    return [c for c in (rows[0] if rows else {}) if c.endswith("suppressed")]
