"""HMAC-SHA256 request signing, the province's side of the national node's wire protocol (version 1).

The canonical string is `NN1-HMAC-SHA256`, method, path, node id, key id, timestamp, nonce,
Idempotency-Key and the body's SHA-256, joined by newlines: every header that decides what is stored is
signed, and the body through its hash. The node's text of the protocol is national_node/wire.py; a shared
test vector keeps the two programs in step without sharing code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SCHEME = "NN1-HMAC-SHA256"
H_NODE, H_KEY, H_TS, H_NONCE, H_BODY, H_SIG, H_IDEMPOTENCY = (
    "X-Node-Id",
    "X-Key-Id",
    "X-Timestamp",
    "X-Nonce",
    "X-Content-SHA256",
    "X-Signature",
    "Idempotency-Key",
)


def canonical(
    method: str,
    path: str,
    node: str,
    key_id: str,
    timestamp: str,
    nonce: str,
    idempotency_key: str,
    body_sha256: str,
) -> bytes:
    return "\n".join(
        (SCHEME, method.upper(), path, node, key_id, timestamp, nonce, idempotency_key, body_sha256)
    ).encode()


def sign_request(
    *,
    method: str,
    path: str,
    body: bytes,
    node: str,
    key_id: str,
    secret: str,
    idempotency_key: str,
    now: float | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers for one attempt: a fresh timestamp and nonce each time, so a retry is never a replay."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(16)
    body_hash = hashlib.sha256(body).hexdigest()
    message = canonical(method, path, node, key_id, timestamp, nonce, idempotency_key, body_hash)
    return {
        H_NODE: node,
        H_KEY: key_id,
        H_TS: timestamp,
        H_NONCE: nonce,
        H_BODY: body_hash,
        H_SIG: hmac.new(secret.encode(), message, hashlib.sha256).hexdigest(),
        H_IDEMPOTENCY: idempotency_key,
    }
