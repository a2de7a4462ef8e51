"""Signed fuzzing of the national node (issue 20): schemathesis against the OpenAPI document it serves.

The node runs as a separate process on loopback. Every generated request is signed as it will be sent
(body bytes, percent-encoded path and query), so generated manifests, payloads and path parameters get
past authentication into validation and storage. Any 5xx, any undocumented status, content type or
response shape fails the test.

Why not `schema.parametrize()`: under pytest 9.2 the items schemathesis 4.32 makes per operation all
share one node id, and pytest-xdist (`make test`) keeps one item per node id, so only `GET /health`
was fuzzed; its lazy fixture loader fails outright (`Function` has no `_nodeid`). So the test draws
cases from schemathesis's public strategies (`operation.as_strategy`) with Hypothesis inside one
ordinary test, and asserts that every operation of the document was fuzzed past authentication.
`NODE_FUZZ_EXAMPLES` sets the examples per operation (default bounded for `make test`, more in soak).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections import Counter

import httpx
import pyarrow as pa
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from assets.sync.batch import Batch
from assets.sync.signing import sign_request
from tests.e2e.test_sync_node import KEY, READER, READER_KEY, NodeProcess, signed_now
from tests.unit.test_sync_node import DAY, batch

pytestmark = pytest.mark.e2e

# Examples for POST /v1/batches (a third of them for each other operation): bounded in `make test`,
# deeper in `make soak` (400 found a 500 of the pre-issue-20 node that 150 did not); NODE_FUZZ_EXAMPLES
# overrides both.
DEFAULT_EXAMPLES, SOAK_EXAMPLES = 100, 500
BATCHES = "POST /v1/batches"
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = NodeProcess(tmp_path_factory.mktemp("fuzz-node") / "home", f"37={KEY}").start().wait_up()
    try:
        _post(n.url, batch())  # one real batch, so reads of 37/DAY find data
        yield n
    finally:
        n.stop()


def _post(url: str, b: Batch) -> None:
    body = b.body()
    r = httpx.post(f"{url}/v1/batches", content=body, headers=signed_now(body, b.batch_id))
    assert r.status_code == 201, r.text


def _with_day(payload: bytes, day: str) -> bytes:
    """A real released payload (Arrow IPC stream) whose rows are moved to `day`."""
    table = pa.ipc.open_stream(payload).read_all()
    i = table.schema.get_field_index("day")
    table = table.set_column(i, table.schema.field(i), pa.array([day] * table.num_rows, pa.string()))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _align(case, n: int) -> str:
    """Shape three generated batches in four so they get further than the envelope checks.

    n % 4 == 0: as generated. 1: consistent with its signature (signing node, Idempotency-Key =
    batch_id, the payload's real hash, a known schema), so the generated payload bytes reach the Arrow
    reader. 2: also a real released payload, its rows moved to the generated period, so the generated
    measures and disclosure groups are checked against real rows. 3: the measures, groups and counts
    describing that payload too, so the generated period, version, threshold, dominance rule and
    source versions reach the release-policy checks and storage. Returns the Idempotency-Key.
    """
    body = case.body
    key = f"fuzz-{n}"
    if n % 4 == 0 or not isinstance(body, dict) or not isinstance(body.get("manifest"), dict):
        return str((case.headers or {}).get("Idempotency-Key", key))
    manifest = body["manifest"]
    if n % 4 >= 2 and isinstance(manifest.get("period"), str) and len(manifest["period"]) < 64:
        real = batch()
        body["payload"] = base64.b64encode(_with_day(real.payload, manifest["period"])).decode()
        described = ("measures", "disclosure_groups", "rows", "cells_suppressed") if n % 4 == 3 else ("rows",)
        manifest.update({field: real.manifest[field] for field in described})
    try:
        payload = base64.b64decode(body.get("payload", ""), validate=True)
    except (ValueError, TypeError):
        return key
    manifest.update(
        node="37",
        batch_id=key,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        schema_version="2",
        payload_format="arrow-ipc-stream",
    )
    return key


def _sign(case, url: str, n: int) -> None:
    """Sign the request exactly as it will be sent: a province for batches; for reads the national
    reader, or (every other read) province 37, which may read only its own periods."""
    post = case.method.upper() == "POST"
    if post:
        key = _align(case, n)
        signer, secret = "37", KEY
    else:
        if n % 2 and "code" in (case.path_parameters or {}):  # a period that holds data
            case.path_parameters = {**case.path_parameters, "code": "37", "day": DAY.isoformat()}
        signer, secret = (READER, READER_KEY) if n % 4 < 2 else ("37", KEY)
        key = ""
    prepared = requests.Request(**case.as_transport_kwargs(base_url=url)).prepare()
    body = prepared.body or b""
    body = body.encode() if isinstance(body, str) else body
    key = key if key.isascii() and key.strip() else "fuzz-batch"
    signed = sign_request(
        method=case.method,
        path=prepared.path_url,
        body=body,
        node=signer,
        key_id="default",
        secret=secret,
        idempotency_key=key if post else "",
        now=time.time(),
    )
    assert signed["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    case.headers = {**(case.headers or {}), **{k: v for k, v in signed.items() if v}}


def _budget(label: str, examples: int) -> int:
    return examples if label == BATCHES else max(10, examples // 3)


def _fuzz(operation, url: str, answers: Counter, examples: int) -> None:
    """Signed cases of one operation, positive and negative, each answer checked."""
    strategy = st.one_of(operation.as_strategy(m) for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE))
    label = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=_budget(label, examples),
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case) -> None:
        n = sum(v for (op, _), v in answers.items() if op == label)
        _sign(case, url, n)
        response = case.call(base_url=url, timeout=30)
        answers[(label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.parametrize(
    "examples",
    [
        pytest.param(DEFAULT_EXAMPLES, id="bounded"),
        pytest.param(SOAK_EXAMPLES, id="deep", marks=pytest.mark.soak),
    ],
)
def test_signed_fuzzing_of_every_operation_finds_no_5xx_and_no_undocumented_answer(node, examples):
    examples = int(os.environ.get("NODE_FUZZ_EXAMPLES", examples))
    document = httpx.get(f"{node.url}/openapi.json").json()
    documented = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item if m in _METHODS}
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]  # an unusable one raises here
    answers: Counter = Counter()  # (operation, status) of every fuzzed request
    for operation in operations:
        started = time.monotonic()
        _fuzz(operation, node.url, answers, examples)
        print(f"{operation.label}: {time.monotonic() - started:.1f} s")
    print("fuzzed answers:", sorted(answers.items()), "requests:", sum(answers.values()))

    fuzzed = {op for op, _ in answers}
    assert {BATCHES, "GET /v1/status", "GET /v1/provinces/{code}/periods/{day}"} <= documented
    assert fuzzed == documented, f"operations never fuzzed: {documented - fuzzed}"
    per_op = Counter({op: 0 for op in documented})
    for (op, _), count in answers.items():
        per_op[op] += count
    # an operation with inputs gets its examples (/health has none: Hypothesis stops after one)
    assert all(per_op[op] >= _budget(op, examples) // 2 for op in documented - {"GET /health"}), per_op
    batches = {status for (op, status) in answers if op == BATCHES}
    reads = {status for (op, status) in answers if op == "GET /v1/provinces/{code}/periods/{day}"}
    # signed requests get past authentication: validation (422), storage (201) and reads (200, 403, 404)
    assert {201, 422} <= batches, answers
    assert {200, 403, 404} <= reads, answers
    assert 200 in {status for (op, status) in answers if op == "GET /v1/status"}, answers
