"""The national node refuses what it should (issue 20): each case an outside tester found on 6e237dd.

Unsigned junk, signed batches that used to crash the node, one day under several names, a manifest
trusted on disclosure, unbounded bodies, open reads and enumerable keys, and the API description.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import re
import warnings

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from assets.sync.batch import Batch
from assets.sync.measures import released as province_measures
from national_node import app as node_app
from national_node.app import app_from_env, create_app
from national_node.contract import GROUPS, MEASURES
from national_node.errors import Rejected
from national_node.keys import KeyRing, parse_keys
from national_node.models import Manifest
from national_node.payload import check_batch, json_depth
from national_node.settings import load_node_settings
from tests.unit.test_sync_node import (
    DAY,
    NOW,
    RING,
    SECRET,
    batch,
    get,
    post,
    read_as_reader,
    released,
    signed_batch,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def client(tmp_path):
    app = create_app(tmp_path / "node", RING, clock=lambda: NOW, max_body_bytes=256 * 1024)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def refused(r, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == code, r.text
    if field is not None:
        assert re.fullmatch(field, r.json()["field"]), r.text  # a pattern: dots match themselves too


def raw(frame: pl.DataFrame, **manifest) -> Batch:
    """A batch whose payload is the frame as it is (no cast to the wire schema: text stays text)."""
    b = batch()
    sink = pa.BufferOutputStream()
    table = frame.to_arrow()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload = sink.getvalue().to_pybytes()
    fields = {"payload_sha256": hashlib.sha256(payload).hexdigest(), "rows": frame.height} | manifest
    return Batch(b.batch_id, b.period, b.version, b.manifest | fields, payload)


def envelope(**manifest_changes) -> tuple[object, bytes]:
    """A real batch with manifest fields replaced, and its body (re-serialized, so anything goes)."""
    b = batch()
    sent = json.loads(b.body())
    sent["manifest"] |= manifest_changes
    return b, json.dumps(sent).encode()


# ---- 500 without a secret ------------------------------------------------------------------------
@pytest.mark.parametrize("header", ["X-Content-SHA256", "X-Signature"])
def test_a_non_ascii_signing_header_is_a_clean_400_not_a_500(client, header):
    r = client.post("/v1/batches", content=b"{}", headers={header: b"\xff" * 64, "X-Node-Id": "37"})
    assert r.status_code == 400, r.text
    b = batch()
    signed = {k: v.encode() for k, v in signed_batch(b).items()} | {header: "é".encode("latin-1") * 64}
    refused(client.post("/v1/batches", content=b.body(), headers=signed), 400, "bad_header")


# ---- signed batches that crashed the node --------------------------------------------------------
def test_json_nested_a_thousand_levels_is_refused_without_recursing(client):
    b = batch()
    deep = b'{"manifest":{"source_versions":' + b"[" * 1000 + b"]" * 1000 + b'},"payload":""}'
    refused(post(client, b, body=deep), 400, "malformed_body")
    assert json_depth(deep) == 1002 and json_depth(b.body()) <= 4
    assert json_depth(b'{"a":"[[[[[[[[[[[[\\"[[[["}') == 1  # brackets inside strings do not count


@pytest.mark.parametrize(
    "change, field",
    [
        ({"measures": [1, 2]}, "manifest.measures.0"),
        ({"measures": [{"grade": 2, "unit": "count", "group": "energy"}]}, "manifest.measures.0.name"),
        (
            {"measures": [{"name": "enterprises", "grade": "two", "group": "energy"}]},
            "manifest.measures.0.grade",
        ),
        (
            {"measures": [{"name": "enterprises", "grade": math.inf, "group": "energy"}]},
            "manifest.measures.0.grade",
        ),
        ({"disclosure_groups": []}, "manifest.disclosure_groups"),
        ({"version": 2**63}, "manifest.version"),
        ({"version": "1"}, "manifest.version"),
        ({"rows": True}, "manifest.rows"),
    ],
)
def test_a_malformed_manifest_is_a_422_naming_the_field(client, change, field):
    b, body = envelope(**change)
    refused(post(client, b, body=body), 422, "invalid_batch", field)


def test_empty_disclosure_groups_with_nothing_released_are_a_422_not_a_500(client):
    """On 6e237dd `disclosure_groups: []` with no measures reached the row checks, which looked up the
    energy flag every row must carry: KeyError, 500. A payload of the four dimensions alone is consistent
    with such a manifest, so only the manifest's own bounds refuse it."""
    dims = released().select("day", "level", "city_code", "industry_code")
    b = raw(dims, disclosure_groups=[], measures=[], cells_suppressed=0)
    refused(post(client, b), 422, "invalid_batch", r"manifest\.(measures|disclosure_groups)")


def test_enterprise_counts_sent_as_text_are_a_422_naming_the_row(client):
    frame = released().with_columns(pl.col("enterprises").cast(pl.String))
    refused(post(client, raw(frame)), 422, "invalid_batch", r"payload\.\d+\.enterprises")


# ---- one day under several names -----------------------------------------------------------------
@pytest.mark.parametrize("alias", ["20261005", "2026-W41-1", "2026-278", "２０２６-10-05"])
def test_a_day_has_one_name_only(client, alias):
    assert post(client, batch()).status_code == 201
    frame = released().with_columns(pl.lit(alias).alias("day"))
    b = batch(frame=frame, period=alias)
    refused(post(client, b), 422, "invalid_batch", "manifest.period")
    assert get(client, "/v1/status").json()["periods"] == 1
    assert get(client, f"/v1/provinces/37/periods/{alias}").status_code == 422


# ---- the node no longer trusts the manifest on disclosure ----------------------------------------
TOTAL = pl.col("level") == "province_total"  # released in the test frame: 9 enterprises


@pytest.mark.parametrize(
    "count, code",
    [(None, "disclosure_violation"), (-5, "invalid_batch"), (math.nan, "invalid_batch")],
)
def test_a_released_grade_2_entry_needs_a_real_enterprise_count(client, count, code):
    frame = released()
    kind = pl.Float64 if isinstance(count, float) else pl.Int64
    leaky = frame.with_columns(
        pl.when(TOTAL)
        .then(pl.lit(count, kind))
        .otherwise(pl.col("enterprises").cast(kind))
        .alias("enterprises")
    )
    refused(post(client, raw(leaky)), 422, code, r"payload\.\d+\.enterprises")


def test_grades_come_from_the_centers_contract_not_the_manifest(client):
    frame = released()
    assert frame.filter(pl.col("suppressed")).height  # the test frame withholds some energy entries
    leaky = frame.with_columns(
        pl.when(pl.col("suppressed"))
        .then(123.0)
        .otherwise(pl.col("electricity_kwh"))
        .alias("electricity_kwh")
    )
    b = batch(frame=leaky)
    b.manifest["measures"][1]["grade"] = 1  # electricity_kwh "declared" grade 1
    r = post(client, b)
    refused(r, 422, "disclosure_violation", "manifest.measures.1.grade")
    b.manifest["measures"][1]["grade"] = 2
    refused(post(client, b), 422, "disclosure_violation")


def test_the_trading_group_has_its_own_threshold(client):
    leaky = released().with_columns(
        pl.when(TOTAL).then(1).otherwise(pl.col("trades")).alias("trades"),
        pl.when(TOTAL).then(5000.0).otherwise(pl.col("trading_value_cny")).alias("trading_value_cny"),
    )
    refused(post(client, batch(frame=leaky)), 422, "disclosure_violation", "payload.8.trades")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_values_must_be_finite(client, value):
    leaky = released().with_columns(
        pl.when(TOTAL).then(value).otherwise(pl.col("availability_pct")).alias("availability_pct")
    )
    refused(post(client, batch(frame=leaky)), 422, "invalid_batch", "payload.8.availability_pct")


def test_a_weaker_declared_policy_or_a_lone_withheld_entry_is_refused(client):
    refused(post(client, batch(disclosure_threshold=2)), 422, "disclosure_violation")
    refused(post(client, batch(dominance_rule={"n": 2, "k": 0.95})), 422, "disclosure_violation")
    frame = released()
    lone = (
        frame.with_columns(  # un-withhold one of the two withheld cells of city 3701: the other is derivable
            pl.when(
                (pl.col("city_code") == "3701") & (pl.col("industry_code") == "26") & pl.col("suppressed")
            )
            .then(False)
            .otherwise(pl.col("suppressed"))
            .alias("suppressed"),
        )
    )
    if lone.equals(frame):
        pytest.skip("test frame changed: 3701/26 is not withheld")
    lone = lone.with_columns(
        pl.when(pl.col("suppressed")).then(pl.col("suppression")).otherwise(None).alias("suppression"),
        pl.when((pl.col("city_code") == "3701") & (pl.col("industry_code") == "26"))
        .then(pl.lit(0, pl.Int64))
        .otherwise(pl.col("enterprises"))
        .alias("enterprises"),
    )
    r = post(client, batch(frame=lone, cells_suppressed=int(lone["suppressed"].sum())))
    refused(r, 422, "disclosure_violation")
    assert "derivable" in r.json()["detail"]


def test_the_centers_contract_is_the_provinces_released_measures():
    assert {m.name: (m.grade, m.group.name, m.integer) for m in province_measures()} == {
        n: (m.grade, m.group, m.integer) for n, m in MEASURES.items()
    }
    assert {m.group.name: (m.group.flag, m.group.reason) for m in province_measures()} == {
        g.name: (g.flag, g.reason) for g in GROUPS.values()
    }


# ---- limits --------------------------------------------------------------------------------------
def test_a_body_over_the_cap_is_refused_413_by_its_length_and_while_streaming(client):
    big = b"x" * (300 * 1024)
    refused(client.post("/v1/batches", content=big), 413, "body_too_large")

    def chunks():
        for _ in range(300):
            yield b"y" * 1024

    refused(client.post("/v1/batches", content=chunks()), 413, "body_too_large")


def test_the_body_cap_is_a_setting_of_the_node(tmp_path, monkeypatch):
    monkeypatch.setenv("NATIONAL_NODE_HOME", str(tmp_path / "n"))
    monkeypatch.setenv("NATIONAL_NODE_KEYS", f"37={SECRET}")
    monkeypatch.delenv("NATIONAL_NODE_FAULTS", raising=False)
    monkeypatch.delenv("NATIONAL_NODE_MAX_BODY_BYTES", raising=False)
    assert load_node_settings().max_body_bytes == 8 * 1024 * 1024
    monkeypatch.setenv("NATIONAL_NODE_MAX_BODY_BYTES", "4096")
    with TestClient(app_from_env(), raise_server_exceptions=False) as c:
        refused(c.post("/v1/batches", content=b"x" * 4097), 413, "body_too_large")
        refused(c.post("/v1/batches", content=b"{}"), 400, "missing_header")  # under the cap: read
    for unusable in ("lots", "100"):
        monkeypatch.setenv("NATIONAL_NODE_MAX_BODY_BYTES", unusable)
        with pytest.raises(ValueError, match="NATIONAL_NODE_MAX_BODY_BYTES"):
            load_node_settings()


def test_batch_checks_run_off_the_event_loop(client, monkeypatch):
    loops = []
    real = node_app.check_batch

    def spy(*args, **kw):
        try:
            loops.append(asyncio.get_running_loop())
        except RuntimeError:
            loops.append(None)  # a worker thread: no event loop to block
        return real(*args, **kw)

    monkeypatch.setattr(node_app, "check_batch", spy)
    assert post(client, batch()).status_code == 201
    assert loops == [None]


def test_a_fault_of_the_node_is_a_clean_logged_500(client, monkeypatch, caplog):
    def broken(*args, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(client.app.state.store, "store", broken)
    r = post(client, batch())
    assert r.status_code == 500 and r.json()["error"] == "internal_error"
    assert "disk on fire" not in r.text and "Traceback" not in r.text
    assert any("fault" in rec.message for rec in caplog.records)


# ---- reads need a key; one answer for every unknown signer ---------------------------------------
def test_reads_need_a_key_and_a_province_reads_only_its_own(client):
    assert post(client, batch()).status_code == 201
    assert set(client.get("/health").json()) == {"status", "node_id", "role"}  # no provinces, no counts
    refused(client.get(f"/v1/provinces/37/periods/{DAY}"), 400, "missing_header")
    refused(client.get("/v1/status"), 400, "missing_header")
    assert get(client, f"/v1/provinces/37/periods/{DAY}").status_code == 200
    refused(
        get(client, f"/v1/provinces/37/periods/{DAY}", node="11", secret=f"{SECRET}-11"), 403, "forbidden"
    )
    assert read_as_reader(client, f"/v1/provinces/37/periods/{DAY}").status_code == 200
    assert get(client, "/v1/status", node="11", secret=f"{SECRET}-11").json()["batches"] == 0
    assert read_as_reader(client, "/v1/status").json()["provinces"] == ["37"]
    # the query is signed: a captured read cannot be turned into a read of every row
    from assets.sync.signing import sign_request

    h = sign_request(
        method="GET",
        path=f"/v1/provinces/37/periods/{DAY}",
        body=b"",
        node="37",
        key_id="default",
        secret=SECRET,
        idempotency_key="",
        now=NOW,
    )
    r = client.get(
        f"/v1/provinces/37/periods/{DAY}?include_rows=true", headers={k: v for k, v in h.items() if v}
    )
    refused(r, 401, "unauthenticated")


def test_unknown_node_unknown_key_and_bad_signature_look_the_same(client):
    answers = {
        what: get(client, "/v1/status", **sign).content
        for what, sign in {
            "unknown node": {"node": "99"},
            "unregistered province": {"node": "44"},
            "unknown reader": {"node": "spy"},
            "unknown key": {"key_id": "k9"},
            "bad signature": {"secret": "not-the-secret-at-all"},
        }.items()
    }
    assert len(set(answers.values())) == 1, answers
    assert json.loads(next(iter(answers.values())))["error"] == "unauthenticated"


@pytest.mark.parametrize(
    "keys", ["37:k4=@2030-01-01T00:00:00Z", "37=", "37=short-secret", f"37={SECRET},ab=x" + "y" * 20]
)
def test_an_empty_short_or_misplaced_key_stops_the_node_at_start(tmp_path, monkeypatch, keys):
    monkeypatch.setenv("NATIONAL_NODE_HOME", str(tmp_path / "n"))
    monkeypatch.setenv("NATIONAL_NODE_KEYS", keys)
    monkeypatch.delenv("NATIONAL_NODE_FAULTS", raising=False)
    with pytest.raises(SystemExit) as exc:
        app_from_env()
    assert "y" * 20 not in str(exc.value) and "short-secret" not in str(exc.value)
    with pytest.raises(ValueError):
        load_node_settings()


def test_a_batch_signed_with_an_empty_secret_cannot_exist():
    with pytest.raises(ValueError, match="empty"):
        KeyRing(parse_keys("37:k4=@2030-01-01T00:00:00Z"))


# ---- offline, truthful API docs ------------------------------------------------------------------
def test_docs_are_served_by_the_node_itself(client):
    html = client.get("/docs").text
    assert "http://" not in html and "https://" not in html
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        assert asset in html
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 10_000


def test_openapi_marks_the_signing_headers_required_and_lists_every_status(client):
    spec = client.get("/openapi.json").json()
    post_op = spec["paths"]["/v1/batches"]["post"]
    headers = {p["name"]: p["required"] for p in post_op["parameters"] if p["in"] == "header"}
    assert headers == dict.fromkeys(
        [
            "X-Node-Id",
            "X-Key-Id",
            "X-Timestamp",
            "X-Nonce",
            "X-Content-SHA256",
            "X-Signature",
            "Idempotency-Key",
        ],
        True,
    )
    assert set(post_op["responses"]) == {"200", "201", "400", "401", "403", "409", "413", "422", "500"}
    read = spec["paths"]["/v1/provinces/{code}/periods/{day}"]["get"]
    assert {"400", "401", "403", "404", "409", "422", "500"} <= set(read["responses"])
    assert all(p["required"] for p in read["parameters"] if p["in"] == "header")


# ---- property: no released table makes the checks fail with anything but a refusal --------------
_VALUES = {
    pa.string(): st.one_of(
        st.none(),
        st.sampled_from(["ALL", "cell", "3701", "26", DAY.isoformat(), "primary"]),
        st.text(max_size=6),
    ),
    pa.int64(): st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.integers(-3, 12)),
    pa.float64(): st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    pa.bool_(): st.one_of(st.none(), st.booleans()),
}


@functools.cache
def _base() -> tuple[Batch, list[str]]:
    return batch(), list(released().columns)


@given(st.data())
@hypothesis_settings(max_examples=150, deadline=None, derandomize=True)
def test_any_table_under_a_valid_manifest_is_stored_or_refused_never_a_crash(data):
    base, names = _base()
    rows = data.draw(st.integers(0, 12))
    columns = {}
    for name in names:
        kind = data.draw(st.sampled_from(list(_VALUES)), label=f"{name} type")
        columns[name] = pa.array(data.draw(st.lists(_VALUES[kind], min_size=rows, max_size=rows)), kind)
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload = sink.getvalue().to_pybytes()
    manifest = Manifest.model_validate(
        base.manifest
        | {
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "rows": rows,
            "cells_suppressed": data.draw(st.integers(0, 24)),
        }
    )
    try:
        check_batch(manifest, payload, node="37", idempotency_key=base.batch_id)
    except Rejected as exc:
        assert 400 <= exc.status < 500 and exc.code and exc.detail
