"""Signed fuzzing of the national node (issue 20): schemathesis against its own OpenAPI document.

The node runs as a separate process on loopback. A `before_call` hook signs every generated request
(prepared exactly as it will be sent: body bytes, percent-encoded path and query), so generated
manifests, payloads and path parameters get past authentication into validation and storage. Any
5xx, any undocumented status, content type or response shape fails the test.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from assets.sync.signing import sign_request
from national_node.app import create_app
from national_node.keys import KeyRing, parse_keys
from tests.e2e.test_sync_node import KEY, READER, READER_KEY, NodeProcess
from tests.unit.test_sync_node import batch

# soak: schemathesis parametrizes per operation only outside pytest-xdist (under `make test`'s workers it
# fuzzes /health alone); `make soak` runs it in one process.
pytestmark = [pytest.mark.e2e, pytest.mark.soak]

MAX_EXAMPLES = int(os.environ.get("NODE_FUZZ_EXAMPLES", "40"))  # per operation and generation mode
_node: dict[str, NodeProcess] = {}
_answers: Counter = Counter()  # (method path, status) of every fuzzed request
_aligned: Counter = Counter()  # batches seen by the hook, and made consistent


@pytest.fixture(scope="module", autouse=True)
def node(tmp_path_factory):
    n = NodeProcess(tmp_path_factory.mktemp("fuzz-node") / "home", f"37={KEY}").start().wait_up()
    _node["n"] = n
    # one real batch, so reads of 37/2026-10-05 find data
    b = batch()
    body = b.body()
    h = sign_request(
        method="POST",
        path="/v1/batches",
        body=body,
        node="37",
        key_id="default",
        secret=KEY,
        idempotency_key=b.batch_id,
    )
    assert httpx.post(f"{n.url}/v1/batches", content=body, headers=h).status_code == 201
    yield n
    n.stop()


def _openapi() -> dict:
    """The node's OpenAPI document, as its process serves it (the same code builds it in-process here)."""
    home = Path(tempfile.mkdtemp(prefix="node-fuzz-schema-"))
    try:
        app = create_app(home, KeyRing(parse_keys(f"37={KEY}")))
        document = app.openapi()
        app.state.store.close()
        return document
    finally:
        shutil.rmtree(home, ignore_errors=True)


schema = schemathesis.openapi.from_dict(_openapi())


def test_the_process_serves_the_document_fuzzed(node):
    assert httpx.get(f"{node.url}/openapi.json").json() == _openapi()


def _align(case) -> None:
    """Every other generated batch is made consistent with its signature and payload (signing node,
    Idempotency-Key = batch_id, the payload's real hash, a known schema), so the generated payload bytes
    and rows reach the Arrow reader, the row models and the release-policy checks."""
    _aligned["seen"] += 1
    body = case.body
    if _aligned["seen"] % 2 or not isinstance(body, dict):
        return
    manifest, encoded = body.get("manifest"), body.get("payload")
    if not isinstance(manifest, dict) or not isinstance(encoded, str):
        return
    try:
        payload = base64.b64decode(encoded, validate=True)
    except ValueError:
        return
    batch_id = f"fuzz-{_aligned['seen']}"
    manifest.update(
        node="37",
        batch_id=batch_id,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        schema_version="2",
        payload_format="arrow-ipc-stream",
    )
    case.headers = {**(case.headers or {}), "Idempotency-Key": batch_id}
    _aligned["aligned"] += 1


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Sign the request as it will be sent: a province for batches, the national reader for reads."""
    url = _node["n"].url
    if case.method.upper() == "POST":
        _align(case)
    prepared = requests.Request(**case.as_transport_kwargs(base_url=url)).prepare()
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    batch_post = case.method.upper() == "POST"
    idempotency = str((case.headers or {}).get("Idempotency-Key", "fuzz-batch")) if batch_post else ""
    signed = sign_request(
        method=case.method,
        path=prepared.path_url,
        body=body,
        node="37" if batch_post else READER,
        key_id="default",
        secret=KEY if batch_post else READER_KEY,
        idempotency_key=idempotency if idempotency.isascii() and idempotency.strip() else "fuzz-batch",
        now=time.time(),
    )
    assert signed["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    case.headers = {**(case.headers or {}), **{k: v for k, v in signed.items() if v}}


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_signed_fuzzing_finds_no_5xx_and_no_undocumented_answer(case):
    response = case.call(base_url=_node["n"].url, timeout=30)
    _answers[(f"{case.method} {case.operation.path}", response.status_code)] += 1
    case.validate_response(response, checks=CHECKS)


def test_the_fuzzing_got_past_authentication():
    """Signed requests reach validation (422), storage or reads, not only the signature check."""
    print("fuzzed answers:", sorted(_answers.items()))
    print(
        "requests:",
        sum(_answers.values()),
        "aligned:",
        _aligned["aligned"],
    )
    statuses = {status for (op, status) in _answers if op == "POST /v1/batches"}
    assert statuses & {200, 201, 409, 422}, _answers
    reads = {status for (op, status) in _answers if op.startswith("GET /v1/provinces")}
    assert reads & {200, 403, 404, 422}, _answers
