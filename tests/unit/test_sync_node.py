"""The reference national node's API in-process: storage once per key, versions, refusals with clear 4xx."""

import base64
import hashlib
import json
import warnings

import polars as pl
import pyarrow as pa
import pytest
from fastapi import FastAPI

from assets.sync.aggregate import aggregate_day
from assets.sync.batch import Batch, make_batch, payload_bytes
from assets.sync.release import release
from assets.sync.signing import sign_request
from national_node.app import app_from_env, create_app
from national_node.keys import KeyRing, parse_keys, parse_readers
from tests.unit.test_sync_release import DAY, duck, energy_rows, equipment_rows
from tests.unit.test_sync_wire import NOW, signed

with warnings.catch_warnings():  # starlette's notice that its TestClient will move to httpx2
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SECRET = "node-unit-secret"
READER_SECRET = "national-reader-secret"
RING = KeyRing(parse_keys(f"37={SECRET},11={SECRET}-11"), parse_readers(f"ops={READER_SECRET}"))


@pytest.fixture
def client(tmp_path):
    app = create_app(tmp_path / "node", RING, clock=lambda: NOW, node_id="national-test")
    with TestClient(app) as c:
        yield c


def get(client: TestClient, path: str, *, params: dict | None = None, **sign):
    """A signed read (the path signed with its query string), by province 37 unless told otherwise."""
    query = "&".join(f"{k}={str(v).lower()}" for k, v in (params or {}).items())
    target = f"{path}?{query}" if query else path
    args = {
        "method": "GET",
        "path": target,
        "body": b"",
        "node": "37",
        "key_id": "default",
        "secret": SECRET,
        "idempotency_key": "",
        "now": NOW,
    } | sign
    headers = {k: v for k, v in sign_request(**args).items() if v}
    return client.get(target, headers=headers)


def read_as_reader(client: TestClient, path: str, **kw):
    return get(client, path, node="ops", secret=READER_SECRET, **kw)


def released(shift: float = 0.0) -> pl.DataFrame:
    ents = [
        (f"91370000000000{i:04d}", "3701" if i < 4 else "3702", "26" if i % 2 else "31") for i in range(9)
    ]
    e = energy_rows(ents).with_columns(pl.col("electricity_kwh") + shift)
    return release(aggregate_day(duck(e, equipment_rows(e)), DAY)).frame


def batch(version: int = 1, frame: pl.DataFrame | None = None, **manifest) -> Batch:
    frame = released() if frame is None else frame
    b = make_batch(
        province="37",
        period=DAY.isoformat(),
        version=version,
        payload=payload_bytes(frame),
        rows=frame.height,
        cells_suppressed=int(frame["suppressed"].sum() + frame["trading_suppressed"].sum()),
        source_versions={"theme.energy_daily": 3, "theme.equipment_daily": 3},
    )
    return Batch(b.batch_id, b.period, b.version, b.manifest | manifest, b.payload)


def signed_batch(b: Batch, body: bytes | None = None, **sign) -> dict:
    """Headers of province 37's POST of batch `b` (or of another `body` under its idempotency key)."""
    return signed(
        b.body() if body is None else body, **({"secret": SECRET, "idempotency_key": b.batch_id} | sign)
    )


def post(client: TestClient, b: Batch, *, body: bytes | None = None, headers: dict | None = None, **sign):
    body = b.body() if body is None else body
    return client.post("/v1/batches", content=body, headers=headers or signed_batch(b, body, **sign))


def test_batch_is_stored_once_and_a_redelivery_gets_the_stored_receipt(client):
    first = post(client, batch())
    assert first.status_code == 201, first.text
    again = post(client, batch())  # a retry: new nonce, same Idempotency-Key
    assert again.status_code == 200
    assert again.json()["receipt_id"] == first.json()["receipt_id"] and again.json()["duplicate"]
    assert get(client, "/v1/status").json()["batches"] == 1
    assert first.json()["node_id"] == again.json()["node_id"] == "national-test"


def test_a_replayed_request_is_refused(client):
    b = batch()
    headers = signed_batch(b)
    assert post(client, b, headers=headers).status_code == 201
    replay = post(client, b, headers=headers)
    assert replay.status_code == 409 and replay.json()["error"] == "replayed_nonce"


def test_the_same_idempotency_key_with_other_figures_is_a_conflict(client):
    assert post(client, batch()).status_code == 201
    other = post(client, batch(frame=released(shift=1.0)))
    assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"
    assert other.json()["latest_version"] == 1


def test_versions_arriving_out_of_order_keep_the_highest_current(client):
    v2 = post(client, batch(2, released(shift=2.0)))
    v1 = post(client, batch(1))
    assert v2.json()["current"] and not v1.json()["current"] and v1.json()["latest_version"] == 2
    period = get(client, f"/v1/provinces/37/periods/{DAY}", params={"include_rows": True}).json()
    assert period["current_version"] == 2 and [v["version"] for v in period["versions"]] == [1, 2]
    assert period["current"]["payload_sha256"] == batch(2, released(shift=2.0)).payload_sha256
    assert len(period["current"]["data"]) == period["current"]["rows"] == released().height


def test_the_node_refuses_a_batch_breaking_the_release_policy(client):
    leaky = released().with_columns(
        pl.lit(False).alias("suppressed"), pl.lit(1).cast(pl.Int64).alias("enterprises")
    )
    r = post(client, batch(frame=leaky, cells_suppressed=0))
    assert r.status_code == 422 and r.json()["error"] == "disclosure_violation"
    grade3 = batch()
    grade3.manifest["measures"][0]["grade"] = 3
    r = post(client, grade3)
    assert r.status_code == 422 and r.json()["error"] == "disclosure_violation"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"rows": 1}, "invalid_batch"),
        ({"payload_sha256": "0" * 64}, "payload_hash_mismatch"),
        ({"schema_version": "9"}, "unsupported_schema_version"),
        ({"node": "11"}, "invalid_batch"),
        ({"period": "2026-13-01"}, "invalid_batch"),
    ],
)
def test_the_manifest_must_describe_the_payload(client, change, code):
    r = post(client, batch(**change))
    assert r.status_code == 422 and r.json()["error"] == code, r.text


def test_idempotency_key_must_be_the_batch_id_and_the_body_an_envelope(client):
    b = batch()
    r = post(client, b, idempotency_key="37-2026-10-05-v7")
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"]
    junk = json.dumps({"manifest": b.manifest, "payload": "not base64!"}).encode()
    r = post(client, b, body=junk)
    assert r.status_code == 400 and r.json()["error"] == "malformed_body"
    assert base64.b64encode(b.payload)  # the real one decodes


def test_read_api_and_openapi(client):
    assert get(client, f"/v1/provinces/37/periods/{DAY}").status_code == 404
    assert read_as_reader(client, f"/v1/provinces/99/periods/{DAY}").json()["error"] == "no_data"
    post(client, batch())
    period = get(client, f"/v1/provinces/37/periods/{DAY}").json()
    assert period["current"]["province_total"]["enterprises"] == 9 and "data" not in period["current"]
    spec = client.get("/openapi.json").json()
    assert {"/v1/batches", "/v1/provinces/{code}/periods/{day}", "/health"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_fault_injection_exists_only_when_its_variable_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("NATIONAL_NODE_HOME", str(tmp_path / "n"))
    monkeypatch.setenv("NATIONAL_NODE_KEYS", f"37={SECRET}")
    monkeypatch.delenv("NATIONAL_NODE_FAULTS", raising=False)
    app = app_from_env()
    assert isinstance(app, FastAPI)
    with TestClient(app) as c:
        assert c.post("/_faults", json={"faults": "drop"}).status_code == 404
    monkeypatch.setenv("NATIONAL_NODE_FAULTS", "on")
    assert not isinstance(app_from_env(), FastAPI)


def test_the_node_refuses_trading_values_in_a_row_withheld_for_its_sellers(client):
    frame = released()
    leaky = frame.with_columns(
        pl.when(pl.col("level") == "cell")
        .then(True)
        .otherwise(pl.col("trading_suppressed"))
        .alias("trading_suppressed")
    )
    flagged = int(leaky["suppressed"].sum() + leaky["trading_suppressed"].sum())
    r = post(client, batch(frame=leaky, cells_suppressed=flagged))
    assert r.status_code == 422 and r.json()["error"] == "disclosure_violation"
    assert "grade-2" in r.json()["detail"]


def test_the_node_still_reads_schema_version_1_batches_with_one_disclosure_group(client):
    b = batch()
    frame = released().drop("trading_suppressed", "trading_suppression", "trades", "trading_value_cny")
    manifest = {k: v for k, v in b.manifest.items() if k not in ("disclosure_groups", "dominance_rule")} | {
        "schema_version": "1",
        "measures": [m for m in b.manifest["measures"] if m["group"] == "energy"],
    }
    table = frame.to_arrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    payload = sink.getvalue().to_pybytes()
    manifest |= {"payload_sha256": hashlib.sha256(payload).hexdigest(), "rows": frame.height}
    r = post(client, Batch(b.batch_id, b.period, b.version, manifest, payload))
    assert r.status_code in (200, 201), r.json()
