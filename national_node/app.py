"""The reference national center node: a FastAPI app receiving provincial batches (OpenAPI at /docs)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from national_node.auth import authenticate
from national_node.errors import Rejected
from national_node.faults import FAULTS_ENV, FaultInjection, parse_faults
from national_node.keys import KeyRing, parse_keys
from national_node.payload import check_batch, parse_envelope, summary
from national_node.storage import Batch, NodeStore
from national_node.wire import MAX_SKEW_SECONDS, PROVINCES

log = logging.getLogger("national_node")

KEYS_ENV, HOME_ENV = "NATIONAL_NODE_KEYS", "NATIONAL_NODE_HOME"


class Receipt(BaseModel):
    receipt_id: str
    node: str
    batch_id: str
    period: str
    version: int
    payload_sha256: str
    rows: int
    cells_suppressed: int
    stored_at: str
    duplicate: bool
    current: bool  # False when a higher version of the period is already stored (out-of-order arrival)
    latest_version: int


class ErrorBody(BaseModel):
    error: str
    detail: str


_ERRORS = {s: {"model": ErrorBody} for s in (400, 401, 403, 404, 409, 422)}
_ENVELOPE_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["manifest", "payload"],
                    "properties": {
                        "manifest": {
                            "type": "object",
                            "description": "batch_id, node, period, version, schema_version, "
                            "payload_format, rows, payload_sha256, cells_suppressed, measures, source_versions",
                        },
                        "payload": {
                            "type": "string",
                            "format": "byte",
                            "description": "Arrow IPC stream, base64",
                        },
                    },
                }
            }
        },
    }
}


def create_app(home: Path, keys: KeyRing, *, clock: Callable[[], float] = time.time) -> FastAPI:
    """The node over its storage in `home`, accepting the provinces and keys of `keys`."""
    store = NodeStore(home)
    app = FastAPI(
        title="National industrial big-data center (reference node)",
        version="1",
        description="Receives released aggregates from provincial nodes: signed (HMAC-SHA256), "
        "idempotent per Idempotency-Key, versioned per period (restatements).",
    )
    app.state.store = store

    @app.exception_handler(Rejected)
    async def _rejected(request: Request, exc: Rejected) -> JSONResponse:
        log.info("rejected %s %s: %s %s", request.method, request.url.path, exc.status, exc.code)
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/health")
    def health() -> dict:
        """Liveness, with what the node holds."""
        return {"status": "ok", "provinces": sorted(keys.provinces), **store.counts()}

    @app.post(
        "/v1/batches",
        response_model=Receipt,
        status_code=201,
        responses={200: {"model": Receipt}, **_ERRORS},
        openapi_extra=_ENVELOPE_DOC,
    )
    async def post_batch(
        request: Request,
        x_node_id: Annotated[str | None, Header(description="Sending node (province code)")] = None,
        x_key_id: Annotated[str | None, Header(description="Key id that signed")] = None,
        x_timestamp: Annotated[str | None, Header(description="Unix seconds, ±300 s")] = None,
        x_nonce: Annotated[str | None, Header(description="Random, never reused")] = None,
        x_content_sha256: Annotated[
            str | None, Header(alias="X-Content-SHA256", description="Body hash")
        ] = None,
        x_signature: Annotated[str | None, Header(description="HMAC-SHA256 hex")] = None,
        idempotency_key: Annotated[str | None, Header(description="The batch id")] = None,
    ) -> JSONResponse:
        """Store one batch; a re-delivery under the same Idempotency-Key answers 200 with the stored receipt."""
        body = await request.body()
        now = clock()
        caller = authenticate(request.headers, request.method, request.url.path, body, keys, now)
        if not store.remember_nonce(caller.node, caller.nonce, now, keep_seconds=2 * MAX_SKEW_SECONDS + 60):
            raise Rejected(
                409, "replayed_nonce", f"nonce {caller.nonce} was already used: a replayed request"
            )
        manifest, payload = parse_envelope(body)
        check_batch(manifest, payload, node=caller.node, idempotency_key=caller.idempotency_key)
        receipt = store.store(
            Batch(
                node=caller.node,
                idempotency_key=caller.idempotency_key,
                batch_id=manifest["batch_id"],
                period=manifest["period"],
                version=manifest["version"],
                schema_version=manifest["schema_version"],
                payload_sha256=manifest["payload_sha256"],
                rows=manifest["rows"],
                cells_suppressed=manifest["cells_suppressed"],
                key_id=caller.key_id,
                manifest=json.dumps(manifest, sort_keys=True),
                payload=payload,
            ),
            dt.datetime.fromtimestamp(now, dt.UTC),
        )
        log.info(
            "batch %s %s (%s)",
            receipt["batch_id"],
            "duplicate" if receipt["duplicate"] else "stored",
            receipt["receipt_id"],
        )
        return JSONResponse(receipt, status_code=200 if receipt["duplicate"] else 201)

    @app.get("/v1/provinces/{code}/periods/{day}", responses={404: {"model": ErrorBody}})
    def get_period(
        code: str,
        day: str,
        include_rows: Annotated[bool, Query(description="Also return every released row")] = False,
    ) -> dict:
        """The current (highest) version of a province's day, its rows summary, and the versions received."""
        if code not in PROVINCES:
            raise Rejected(404, "unknown_node", f"{code!r} is not a province code")
        versions = store.versions(code, day)
        if not versions:
            raise Rejected(404, "no_data", f"nothing received from {code} for {day}")
        current = versions[-1]
        payload, manifest = store.payload(current["receipt_id"])
        return {
            "province": code,
            "period": day,
            "current_version": current["version"],
            "current": current
            | {"manifest": json.loads(manifest)}
            | summary(payload, include_rows=include_rows),
            "versions": versions,
        }

    return app


def app_from_env() -> FastAPI:
    """The app as configured by the environment: home, keys, and (tests only) injected faults."""
    home = os.environ.get(HOME_ENV)
    if not home:
        raise SystemExit(f"{HOME_ENV} (or --home) must name the node's home directory")
    spec = os.environ.get(KEYS_ENV, "")
    keyring = KeyRing(parse_keys(spec))
    if not keyring.keys:
        raise SystemExit(f"{KEYS_ENV} is empty: no province could sign (e.g. {KEYS_ENV}='37=<secret>')")
    app = create_app(Path(home), keyring)
    faults = os.environ.get(FAULTS_ENV)
    if faults:
        log.warning("%s is set: fault injection is ON (tests only)", FAULTS_ENV)
        return FaultInjection(app, parse_faults(faults))  # type: ignore[return-value]
    return app
