"""The identifier resolver end to end: `lakehouse resolver serve` as its own process, a real HTTP client.

The lake is a small synthetic province written straight into a temporary home (bench/resolver.py), so no
pipeline run is needed. Covers anonymous vs authenticated fields, 404, 410, 400 with reasons, batches,
bad and replayed signatures, a rebuilt silver.identifier picked up while running, and the per-day counts
committed on SIGTERM.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import httpx
import polars as pl
import pytest

from assets.sync.signing import sign_request
from bench.resolver import free_port, write_identifier_lake
from tests.unit.test_sync_wire import signed_get
from warehouse.codes import make_uscc
from warehouse.registry import IDENTIFIER, IDENTIFIER_RESOLUTION
from warehouse.storage import Lake

pytestmark = pytest.mark.e2e
PEER, PEER_KEY = "101", "e2e-resolver-peer-key"


@pytest.fixture(scope="module")
def resolver(tmp_path_factory):
    home = tmp_path_factory.mktemp("resolver_home")
    ids = write_identifier_lake(home / "lake", 20)
    port = free_port()
    env = dict(os.environ) | {
        "LAKEHOUSE_HOME": str(home),
        "LAKEHOUSE_RESOLVER_PEERS": f"{PEER}={PEER_KEY}",
        "LAKEHOUSE_RESOLVER_FLUSH_S": "600",  # counts are committed on SIGTERM in this test
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "resolver", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    yield {"url": url, "ids": ids, "home": home, "proc": proc}
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=20)


def handle_of(ids: pl.DataFrame, object_type: str, status: str = "active") -> str:
    return ids.filter((pl.col("object_type") == object_type) & (pl.col("status") == status))["handle"][0]


def peer_get(url: str, path: str, *, key: str = PEER_KEY, nonce: str | None = None) -> httpx.Response:
    """A read signed by the peer province: with its key unless told otherwise."""
    return signed_get(url, path, node=PEER, secret=key, nonce=nonce)


def test_anonymous_callers_see_grade_1_fields_and_peers_see_grade_2_masked(resolver):
    url, ids = resolver["url"], resolver["ids"]
    handle = handle_of(ids, "enterprise")
    anon = httpx.get(f"{url}/v1/identifiers/{handle}")
    assert anon.status_code == 200
    body = anon.json()
    assert (body["handle"], body["object_type"], body["audience"], body["max_grade"]) == (
        handle,
        "enterprise",
        "anonymous",
        1,
    )
    assert body["profile"]["name"].startswith("山东测试") and body["profile"]["industry_code"] == "26"
    assert not {"legal_representative", "phone", "legal_representative_id"} & set(body["profile"])
    path = f"/v1/identifiers/{handle}"
    peer = peer_get(url, path).json()
    assert peer["audience"] == "peer" and peer["max_grade"] == 2
    assert peer["profile"]["legal_representative"] == "张**"  # grade 2, masked as in every view
    assert peer["profile"]["phone"] == "138****5678"
    assert "legal_representative_id" not in peer["profile"]  # grade 3 never leaves the core
    eq = httpx.get(f"{url}/v1/identifiers/{handle_of(ids, 'equipment')}").json()
    assert eq["profile"]["equipment_id"] and eq["enterprise_handle"].endswith("/ENT")
    line = httpx.get(f"{url}/v1/identifiers/{handle_of(ids, 'line')}").json()
    assert line["profile"]["equipment"]


def test_a_bad_or_replayed_signature_is_refused_not_downgraded(resolver):
    url, ids = resolver["url"], resolver["ids"]
    path = f"/v1/identifiers/{handle_of(ids, 'enterprise')}"
    bad = peer_get(url, path, key="not-the-peer-key-at-all")
    assert bad.status_code == 401 and bad.json()["error"] == "unauthenticated"
    nonce = "a" * 32
    assert peer_get(url, path, nonce=nonce).status_code == 200
    replay = peer_get(url, path, nonce=nonce)
    assert replay.status_code == 409 and replay.json()["error"] == "replayed_nonce"


def test_unknown_revoked_and_malformed_handles(resolver):
    url, ids = resolver["url"], resolver["ids"]
    unknown = f"88.137.{make_uscc('370302', 'UN000001')}/ENT"
    r = httpx.get(f"{url}/v1/identifiers/{unknown}")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    other_node = handle_of(ids, "enterprise").replace("88.137.", "88.201.", 1)
    r = httpx.get(f"{url}/v1/identifiers/{other_node}")
    assert r.status_code == 404 and "88.201" in r.json()["detail"]
    revoked = handle_of(ids, "data_product", "revoked")
    r = httpx.get(f"{url}/v1/identifiers/{revoked}")
    assert r.status_code == 410 and r.json()["error"] == "revoked" and r.json()["revoked_at"]
    assert "profile" not in r.json()
    for text, reason in [
        ("88.137.NOTAUSCC/ENT", "unified social credit code"),
        ("89.137.x/ENT", "top-level"),
        ("88.137." + make_uscc("370302", "UN000001"), "no '/'"),
        (handle_of(ids, "enterprise").replace("/ENT", "/QQ.1"), "object type"),
    ]:
        r = httpx.get(f"{url}/v1/identifiers/{text}")
        assert r.status_code == 400, text
        assert r.json()["error"] == "malformed_handle" and reason in r.json()["detail"], r.json()


def test_batch_resolution_answers_each_handle_in_order(resolver):
    url, ids = resolver["url"], resolver["ids"]
    handles = [
        handle_of(ids, "equipment"),
        "bad",
        handle_of(ids, "data_product", "revoked"),
        handle_of(ids, "data_product"),
    ]
    r = httpx.post(f"{url}/v1/identifiers:resolve", json={"handles": handles})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["status"] for x in results] == [200, 400, 410, 200]
    assert (
        results[0]["result"]["handle"] == handles[0] and results[1]["result"]["error"] == "malformed_handle"
    )
    assert httpx.post(f"{url}/v1/identifiers:resolve", content=b"{not json").status_code == 400
    assert httpx.post(f"{url}/v1/identifiers:resolve", json={"handles": ["x"] * 1001}).status_code == 400
    assert httpx.post(f"{url}/v1/identifiers:resolve", json={"handles": []}).status_code == 400
    body = b'{"handles": ["' + handles[0].encode() + b'"]}'
    headers = sign_request(
        method="POST",
        path="/v1/identifiers:resolve",
        body=body,
        node=PEER,
        key_id="default",
        secret=PEER_KEY,
        idempotency_key="",
    )
    peer = httpx.post(f"{url}/v1/identifiers:resolve", content=body, headers=headers)
    assert peer.json()["results"][0]["result"]["audience"] == "peer"


def test_a_rebuilt_identifier_table_is_picked_up_while_running(resolver):
    url, ids, home = resolver["url"], resolver["ids"], resolver["home"]
    new = ids.head(1).with_columns(
        pl.lit(f"88.137.{ids['uscc'][0]}/EQ.NEW-1").alias("handle"),
        pl.lit("equipment").alias("object_type"),
        pl.lit("NEW-1").alias("object_key"),
        pl.lit("active").alias("status"),
        pl.lit(None).cast(IDENTIFIER.schema["revoked_at"]).alias("revoked_at"),
        pl.lit(dt.datetime.now(dt.UTC)).cast(IDENTIFIER.schema["issued_at"]).alias("issued_at"),
    )
    Lake(home / "lake").overwrite(IDENTIFIER, pl.concat([ids, new]), run_id="e2e")
    deadline = time.monotonic() + 30
    while httpx.get(f"{url}/v1/identifiers/88.137.{ids['uscc'][0]}/EQ.NEW-1").status_code != 200:
        assert time.monotonic() < deadline, "the resolver did not pick up the rebuilt table"
        time.sleep(0.5)


def test_the_api_docs_are_served_by_the_resolver_itself(resolver):
    """No CDN: the Swagger page and its assets come from the swagger-ui-bundle package (no internet here)."""
    url = resolver["url"]
    page = httpx.get(f"{url}/docs")
    assert page.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in page.text
    assert "cdn." not in page.text
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        assert httpx.get(url + asset).status_code == 200


def test_resolutions_are_counted_per_day_without_caller_data_and_committed_on_stop(resolver):
    url, ids, proc = resolver["url"], resolver["ids"], resolver["proc"]
    for _ in range(3):
        httpx.get(f"{url}/v1/identifiers/{handle_of(ids, 'equipment')}")
    proc.terminate()
    assert proc.wait(timeout=30) in (0, -15)  # uvicorn re-raises SIGTERM after its graceful shutdown
    counts = Lake(resolver["home"] / "lake").read(IDENTIFIER_RESOLUTION)
    assert set(counts.columns) == {"day", "object_type", "outcome", "audience", "resolutions", "flushed_at"}
    total = counts.group_by("outcome").agg(pl.col("resolutions").sum())
    got = dict(total.iter_rows())
    assert got["resolved"] >= 3 and got["malformed"] >= 4 and got["revoked"] >= 2 and got["not_found"] >= 2
    assert counts.filter(pl.col("audience") == "peer")["resolutions"].sum() >= 3
