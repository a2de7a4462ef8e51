"""The reference national center node: a FastAPI app receiving provincial batches (OpenAPI at /docs).

Every request but /health and the docs is signed (wire.py). Limits come before work: a body larger
than the cap is refused with 413 from its Content-Length, or while it streams in, never read whole;
the JSON depth is capped; hashing, parsing and validating run in a worker thread so the event loop
(and /health) stays responsive. Every refusal is a 4xx naming what was wrong; a 500 means a fault of
the node itself, logged, with a body of the same shape.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from national_node.auth import Caller, authenticate
from national_node.contract import NATIONAL_ROLE, Role
from national_node.errors import Rejected
from national_node.faults import FAULTS_ENV, FaultInjection, parse_faults
from national_node.keys import KeyRing
from national_node.models import Day, Manifest
from national_node.payload import check_batch, declared_groups, noisy_entries, parse_envelope, summary
from national_node.settings import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_NODE_ID,
    HOME_ENV,
    KEYS_ENV,
    load_node_settings,
)
from national_node.storage import Batch, NodeStore
from national_node.wire import MAX_SKEW_SECONDS, PROVINCES

__all__ = ["HOME_ENV", "KEYS_ENV", "app_from_env", "create_app"]

log = logging.getLogger("national_node")


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: a lone surrogate sent in a field can never break the answer."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


class Receipt(BaseModel):
    receipt_id: str
    node_id: str  # this center (NATIONAL_NODE_ID): who acknowledged
    node: str  # the sending province
    batch_id: str
    period: str
    version: int
    payload_sha256: str
    rows: int
    cells_suppressed: int
    stored_at: str
    duplicate: bool  # True: this Idempotency-Key was already stored; this is its receipt (HTTP 200)
    current: bool  # False when a higher version of the period is already stored (out-of-order arrival)
    latest_version: int


class ErrorBody(BaseModel):
    error: str  # stable code, e.g. unauthenticated, replayed_nonce, invalid_batch, body_too_large
    detail: str
    field: str | None = None  # the field refused, e.g. manifest.version or payload.3.enterprises
    latest_version: int | None = None  # on a conflict: the highest version stored of the period


class Health(BaseModel):
    status: str
    node_id: str
    role: str  # national, or the industry node's contract (energy, machinery, chemicals)


class Status(BaseModel):
    node_id: str
    batches: int
    periods: int
    provinces: list[str]  # a reader sees every province holding data; a province only itself


def _errors(*codes: int) -> dict:
    return {s: {"model": ErrorBody} for s in codes}


_SIGNING_DOC = {
    "X-Node-Id": ("Signer: the province code (GB/T 2260), or a national reader id", r"^[\x21-\x7e]{1,256}$"),
    "X-Key-Id": ("Key id that signed (rotation: old and new overlap)", r"^[\x21-\x7e]{1,256}$"),
    "X-Timestamp": ("Unix seconds, within ±300 s of the center's clock", r"^[0-9]{1,12}$"),
    "X-Nonce": ("16-128 letters or digits, never reused", r"^[A-Za-z0-9]{16,128}$"),
    "X-Content-SHA256": ("hex SHA-256 of the body (of no bytes for a read)", r"^[0-9a-f]{64}$"),
    "X-Signature": ("hex HMAC-SHA256 of the canonical string (national_node/wire.py)", r"^[0-9a-f]{64}$"),
    "Idempotency-Key": ("The batch id (manifest.batch_id)", r"^[A-Za-z0-9._-]{1,128}$"),
}


def _signing_parameters(*, batch: bool) -> list[dict]:
    return [
        {
            "name": name,
            "in": "header",
            "required": True,
            "description": desc,
            "schema": {"type": "string", "pattern": pattern},
        }
        for name, (desc, pattern) in _SIGNING_DOC.items()
        if batch or name != "Idempotency-Key"
    ]


_MANIFEST_SCHEMA = Manifest.model_json_schema(ref_template="#/components/schemas/{model}")
_MANIFEST_DEFS = _MANIFEST_SCHEMA.pop("$defs", {})  # MeasureDecl, GroupDecl...: into the components


def _envelope_doc() -> dict:
    return {
        "parameters": _signing_parameters(batch=True),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["manifest", "payload"],
                        "additionalProperties": False,
                        "properties": {
                            "manifest": _MANIFEST_SCHEMA,
                            "payload": {
                                "type": "string",
                                "format": "byte",
                                "description": "Arrow IPC stream of released rows, base64",
                            },
                        },
                    }
                }
            },
        },
    }


def _signed_path(request: Request) -> str:
    """What the caller signed: the path as sent (still percent-encoded), and `?query` when there is one."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    query = request.scope.get("query_string", b"")
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


async def _read_capped(request: Request, limit: int) -> bytes:
    """The body, refused with 413 by its declared length or as soon as it streams past `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise Rejected(413, "body_too_large", f"bodies are limited to {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, "body_too_large", f"bodies are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    home: Path,
    keys: KeyRing,
    *,
    clock: Callable[[], float] = time.time,
    node_id: str = DEFAULT_NODE_ID,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    role: Role = NATIONAL_ROLE,
) -> FastAPI:
    """The node over its storage in `home`, accepting the provinces and readers of `keys`; an industry
    `role` accepts only its contract's divisions, measures and grades."""
    store = NodeStore(home)
    app = FastAPI(
        title="National industrial big-data center (reference node)",
        version="1",
        description="Receives released aggregates from provincial nodes: signed (HMAC-SHA256), "
        "idempotent per Idempotency-Key, versioned per period (restatements). Every request but "
        "/health is signed with the headers of national_node/wire.py; reads sign an empty body.",
        docs_url=None,
        redoc_url=None,
        default_response_class=AsciiJSONResponse,
    )
    app.state.store = store
    app.state.node_id = node_id
    app.state.role = role.name
    offline_docs(app)

    @app.exception_handler(Rejected)
    async def _rejected(request: Request, exc: Rejected) -> JSONResponse:
        log.info("rejected %s %s: %s %s", request.method, request.url.path, exc.status, exc.code)
        # an oversized body is not drained: the connection is closed after the answer
        headers = {"Connection": "close"} if exc.status == 413 else None
        return AsciiJSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in err.get("loc", ()))
        body = {"error": "invalid_request", "detail": f"{field}: {err.get('msg')}", "field": field}
        return AsciiJSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return AsciiJSONResponse({"error": code, "detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error("fault %s in %s %s", incident, request.method, request.url.path, exc_info=exc)
        body = {"error": "internal_error", "detail": f"the node failed (incident {incident}, logged)"}
        return AsciiJSONResponse(body, status_code=500)

    def verify(request: Request, body: bytes, *, batch: bool) -> Caller:
        """Authenticate a request and spend its nonce (a replay is refused with 409 replayed_nonce)."""
        now = clock()
        caller = authenticate(
            request.headers, request.method, _signed_path(request), body, keys, now, idempotent=batch
        )
        if not store.remember_nonce(caller.node, caller.nonce, now, keep_seconds=2 * MAX_SKEW_SECONDS + 60):
            raise Rejected(
                409, "replayed_nonce", f"nonce {caller.nonce} was already used: a replayed request"
            )
        return caller

    def accept(request: Request, body: bytes) -> JSONResponse:
        """Verify, validate and store one batch (in a worker thread: hashing and checks are CPU work)."""
        caller = verify(request, body, batch=True)
        if caller.reader:
            raise Rejected(403, "forbidden", "readers cannot send batches")
        manifest, sent, payload = parse_envelope(body)
        rows = check_batch(
            manifest, payload, node=caller.node, idempotency_key=caller.idempotency_key, role=role
        )
        now = dt.datetime.fromtimestamp(clock(), dt.UTC)
        receipt = store.store(
            Batch(
                node=caller.node,
                idempotency_key=caller.idempotency_key,
                batch_id=manifest.batch_id,
                period=manifest.period,
                version=manifest.version,
                schema_version=manifest.schema_version,
                payload_sha256=manifest.payload_sha256,
                rows=manifest.rows,
                cells_suppressed=manifest.cells_suppressed,
                key_id=caller.key_id,
                manifest=json.dumps(sent, sort_keys=True),
                payload=payload,
                cells_noisy=noisy_entries(rows, declared_groups(manifest)),
            ),
            now,
        )
        log.info(
            "batch %s %s (%s)",
            receipt["batch_id"],
            "duplicate" if receipt["duplicate"] else "stored",
            receipt["receipt_id"],
        )
        return AsciiJSONResponse(
            receipt | {"node_id": node_id}, status_code=200 if receipt["duplicate"] else 201
        )

    @app.get("/health", response_model=Health, responses=_errors(500))
    def health() -> dict:
        """Liveness only: what the node holds is behind a key (GET /v1/status)."""
        return {"status": "ok", "node_id": node_id, "role": role.name}

    @app.post(
        "/v1/batches",
        response_model=Receipt,
        status_code=201,
        responses={200: {"model": Receipt}, **_errors(400, 401, 403, 409, 413, 422, 500)},
        openapi_extra=_envelope_doc(),
    )
    async def post_batch(request: Request) -> JSONResponse:
        """Store one batch; a re-delivery under the same Idempotency-Key answers 200 with the stored receipt."""
        body = await _read_capped(request, max_body_bytes)
        return await run_in_threadpool(accept, request, body)

    @app.get(
        "/v1/status",
        response_model=Status,
        responses=_errors(400, 401, 409, 422, 500),
        openapi_extra={"parameters": _signing_parameters(batch=False)},
    )
    def status(request: Request) -> dict:
        """What the node holds: everything for a national reader, a province's own for a province."""
        caller = verify(request, b"", batch=False)
        counts = store.counts(None if caller.reader else caller.node)
        return {"node_id": node_id, **counts}

    @app.get(
        "/v1/provinces/{code}/periods/{day}",
        responses=_errors(400, 401, 403, 404, 409, 422, 500),
        openapi_extra={"parameters": _signing_parameters(batch=False)},
    )
    def get_period(
        request: Request,
        code: str,
        day: Day,
        include_rows: Annotated[bool, Query(description="Also return every released row")] = False,
    ) -> dict:
        """The current (highest) version of a province's day, its rows summary, and the versions received.

        A national reader reads every province; a province reads only its own periods.
        """
        caller = verify(request, b"", batch=False)
        if not caller.reader and caller.node != code:
            raise Rejected(403, "forbidden", "a province reads only its own periods")
        versions = store.versions(code, day) if code in PROVINCES else []
        if not versions:
            raise Rejected(404, "no_data", f"nothing held for province {code} on {day}")
        current = versions[-1]
        payload, manifest = store.payload(current["receipt_id"])
        return {
            "node_id": node_id,
            "province": code,
            "period": day,
            "current_version": current["version"],
            "current": current
            | {"manifest": json.loads(manifest)}
            | summary(payload, include_rows=include_rows),
            "versions": versions,
        }

    generate = app.openapi

    def openapi() -> dict:
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {}).update(_MANIFEST_DEFS)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def offline_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package, served by the node itself (no CDN)."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )


def app_from_env() -> FastAPI:
    """The app as configured by the environment: home, keys, limits, and (tests only) injected faults."""
    try:
        s = load_node_settings()
    except ValueError as exc:
        raise SystemExit(f"national node: {exc}") from None
    app = create_app(s.home, s.keys, node_id=s.node_id, max_body_bytes=s.max_body_bytes, role=s.role)
    faults = os.environ.get(FAULTS_ENV)
    if faults:
        log.warning("%s is set: fault injection is ON (tests only)", FAULTS_ENV)
        return FaultInjection(app, parse_faults(faults))  # type: ignore[return-value]
    return app
