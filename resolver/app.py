"""The resolver's HTTP API (FastAPI; OpenAPI at /docs).

- `GET /v1/identifiers/{handle}`: 200 with the profile; 404 unknown (or not issued by this node); 410
  revoked; 400 malformed, with the reason. The handle goes in the path as it is (its `/` included);
  a `%` inside a handle is sent as `%25`.
- `POST /v1/identifiers:resolve` `{"handles": [...]}` (at most MAX_BATCH): one result per handle, in
  order, each with its own status.
- Anonymous callers get grade-1 fields. A peer signs the request with the national node's scheme
  (headers X-Node-Id, X-Key-Id, X-Timestamp, X-Nonce, X-Content-SHA256, X-Signature; no
  Idempotency-Key) with a key of LAKEHOUSE_RESOLVER_PEERS and gets grade 1 and 2 (personal data
  masked). A request carrying a signature that does not verify gets 401, never a silent downgrade.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from national_node.app import offline_docs
from national_node.auth import authenticate
from national_node.errors import Rejected
from national_node.keys import KeyRing
from national_node.wire import H_SIG, MAX_SKEW_SECONDS
from resolver.counts import ResolutionCounter
from resolver.directory import Entry, build_directory, source_versions
from warehouse.identifiers import MalformedHandle, parse_handle
from warehouse.storage import Lake

log = logging.getLogger("resolver")
PEERS_ENV = "LAKEHOUSE_RESOLVER_PEERS"
MAX_BATCH = 1000
MAX_BODY_BYTES = 512 * 1024
_JSON = "application/json"


class BatchRequest(BaseModel):
    handles: list[str]


class ErrorBody(BaseModel):
    error: str  # malformed_handle | not_found | revoked | unauthenticated | ...
    detail: str
    handle: str | None = None


def _error(status: int, code: str, detail: str, handle: str | None = None) -> Response:
    body = {"error": code, "detail": detail, **({"handle": handle} if handle is not None else {})}
    return Response(json.dumps(body, ensure_ascii=False).encode(), status_code=status, media_type=_JSON)


class Resolver:
    """The directory (swapped whole on rebuild), the node code, peers' keys, nonces and counts."""

    def __init__(self, lake: Lake, node: str, peers: KeyRing) -> None:
        self.lake, self.node, self.peers = lake, node, peers
        self.directory: dict[str, Entry] = {}
        self.versions: tuple | None = None
        self.counter = ResolutionCounter(lake)
        self._nonces: dict[tuple[str, str], float] = {}
        self._nonce_lock = threading.Lock()

    def reload(self) -> bool:
        versions = source_versions(self.lake)
        if versions == self.versions:
            return False
        self.directory = build_directory(self.lake)
        self.versions = versions
        log.info("directory built: %d handles (versions %s)", len(self.directory), versions)
        return True

    def audience(self, request: Request, body: bytes, path: str) -> str:
        if not request.headers.get(H_SIG):
            return "anonymous"
        now = time.time()
        caller = authenticate(request.headers, request.method, path, body, self.peers, now, idempotent=False)
        with self._nonce_lock:
            if len(self._nonces) > 100_000:
                self._nonces = {k: t for k, t in self._nonces.items() if t > now}
            key = (caller.node, caller.nonce)
            if self._nonces.get(key, 0) > now:
                raise Rejected(409, "replayed_nonce", f"nonce {caller.nonce} was already used")
            self._nonces[key] = now + 2 * MAX_SKEW_SECONDS + 60
        return "peer"

    def resolve(self, text: object, audience: str) -> tuple[int, bytes | dict]:
        """(status, answer): pre-rendered bytes for 200/410, an error dict for 400/404."""
        try:
            handle = parse_handle(text)
        except MalformedHandle as exc:
            self.counter.count("unknown", "malformed", audience)
            return 400, {"error": "malformed_handle", "detail": str(exc), "handle": text}
        entry = self.directory.get(text)  # type: ignore[arg-type]
        if entry is None:
            self.counter.count(handle.object_type, "not_found", audience)
            detail = (
                f"no handle {text} has been issued"
                if handle.node == self.node
                else f"handle of secondary node 88.{handle.node}; this resolver serves 88.{self.node}"
            )
            return 404, {"error": "not_found", "detail": detail, "handle": text}
        if entry.status == "revoked":
            self.counter.count(entry.object_type, "revoked", audience)
            return 410, entry.body[audience]
        self.counter.count(entry.object_type, "resolved", audience)
        return 200, entry.body[audience]


def _signed_path(request: Request) -> str:
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    query = request.scope.get("query_string", b"")
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


class AnonymousFastPath:
    """ASGI wrapper answering an unsigned `GET /v1/identifiers/...` straight from the directory.

    The same Resolver.resolve as the FastAPI route (which documents it and serves signed requests), without
    the framework's routing and dependency layers: about half the CPU per resolution, which is what an
    anonymous lookup load is made of.
    """

    PREFIX = "/v1/identifiers/"

    def __init__(self, app: FastAPI, state: Resolver) -> None:
        self.app, self.state = app, state

    def __getattr__(self, name: str):  # app.state, app.openapi ... for callers holding the wrapper
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"].startswith(self.PREFIX)
            and not any(k == b"x-signature" for k, _ in scope["headers"])
        ):
            status, answer = self.state.resolve(scope["path"][len(self.PREFIX) :], "anonymous")
            if isinstance(answer, dict):
                answer = json.dumps(answer, ensure_ascii=False).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"%d" % len(answer)),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": answer})
            return
        await self.app(scope, receive, send)


def app_from_env() -> AnonymousFastPath:
    """The app as `python -m resolver serve` configures it (uvicorn workers import it by this name)."""
    import os

    from national_node.keys import parse_keys
    from warehouse.settings import load_settings

    s = load_settings()
    peers = KeyRing(parse_keys(os.environ.get(PEERS_ENV, ""), variable=PEERS_ENV))
    return create_app(s.open_lake(), node=s.identifier_node, peers=peers, flush_s=s.resolver_flush_s)


def create_app(
    lake: Lake | Path, *, node: str, peers: KeyRing, flush_s: float = 5.0, reload_s: float = 2.0
) -> AnonymousFastPath:
    state = Resolver(lake if isinstance(lake, Lake) else Lake(lake), node, peers)
    state.reload()

    async def housekeeping() -> None:
        last_flush = time.monotonic()
        while True:
            await asyncio.sleep(min(reload_s, flush_s))
            try:
                await run_in_threadpool(state.reload)
                if time.monotonic() - last_flush >= flush_s:
                    last_flush = time.monotonic()
                    await run_in_threadpool(state.counter.flush)
            except Exception:  # a failed rebuild keeps the last directory; a failed flush keeps counts
                log.exception("resolver housekeeping failed")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        task = asyncio.create_task(housekeeping())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            state.counter.flush()

    app = FastAPI(
        title="Identifier resolver (工业互联网标识解析, secondary node)",
        version="1",
        lifespan=lifespan,
        description=__doc__,
        docs_url=None,  # served offline below, as the node does (no CDN: there is no internet here)
        redoc_url=None,
    )
    offline_docs(app)
    app.state.resolver = state

    @app.exception_handler(Rejected)
    async def _rejected(_request: Request, exc: Rejected) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "node": f"88.{node}", "handles": len(state.directory)}

    @app.get(
        "/v1/identifiers/{handle:path}",
        responses={
            400: {"model": ErrorBody},
            401: {"model": ErrorBody},
            404: {"model": ErrorBody},
            410: {"description": "revoked: the handle, its object and when it was revoked"},
        },
    )
    async def resolve_one(handle: str, request: Request) -> Response:
        """Resolve one handle to its object's profile (fields by the caller's audience)."""
        audience = state.audience(request, b"", _signed_path(request))
        status, answer = state.resolve(handle, audience)
        if isinstance(answer, dict):
            return _error(status, answer["error"], answer["detail"], answer["handle"])
        return Response(answer, status_code=status, media_type=_JSON)

    @app.post("/v1/identifiers:resolve", responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}})
    async def resolve_batch(request: Request) -> Response:
        """Resolve up to MAX_BATCH handles; each result carries its own status (200, 400, 404, 410)."""
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            return _error(413, "body_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "body_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
        audience = state.audience(request, body, _signed_path(request))
        try:
            handles = json.loads(body)["handles"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "malformed_request", 'the body must be JSON {"handles": ["88....", ...]}')
        if not isinstance(handles, list) or not handles:
            return _error(400, "malformed_request", '"handles" must be a non-empty list')
        if len(handles) > MAX_BATCH:
            return _error(400, "batch_too_large", f"at most {MAX_BATCH} handles per request")
        parts = []
        for text in handles:
            status, answer = state.resolve(text, audience)
            if isinstance(answer, dict):
                answer = json.dumps(answer, ensure_ascii=False).encode()
            parts.append(b'{"status":%d,"result":%s}' % (status, answer))
        return Response(b'{"results":[' + b",".join(parts) + b"]}", media_type=_JSON)

    return AnonymousFastPath(app, state)
