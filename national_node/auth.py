"""Request authentication: who signed, within the clock window, over exactly these bytes.

Order matters: cheap refusals first (missing headers, unknown node or key, clock skew, body hash), the
HMAC last; the nonce is only recorded (by the caller) for a request whose signature is good, so junk
cannot fill the nonce store.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from national_node.errors import Rejected
from national_node.keys import KeyRing
from national_node.wire import (
    H_BODY,
    H_IDEMPOTENCY,
    H_KEY,
    H_NODE,
    H_NONCE,
    H_SIG,
    H_TS,
    MAX_SKEW_SECONDS,
    PROVINCES,
    SIGNED_HEADERS,
    canonical,
    signature,
)


@dataclass(frozen=True)
class Caller:
    node: str
    key_id: str
    nonce: str
    idempotency_key: str


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.lower())
    if not value:
        raise Rejected(
            400, "missing_header", f"header {name} is required (signed headers: {', '.join(SIGNED_HEADERS)})"
        )
    return value


def authenticate(
    headers: Mapping[str, str], method: str, path: str, body: bytes, keys: KeyRing, now: float
) -> Caller:
    """The verified caller of a signed request, or Rejected with a 4xx saying why."""
    values = {h: _header(headers, h) for h in SIGNED_HEADERS}
    node, key_id = values[H_NODE], values[H_KEY]
    if node not in PROVINCES:
        raise Rejected(403, "unknown_node", f"{node!r} is not a GB/T 2260 province code")
    secret = keys.secret(node, key_id, dt.datetime.fromtimestamp(now, dt.UTC))
    try:
        ts = int(values[H_TS])
    except ValueError as exc:
        raise Rejected(400, "bad_timestamp", f"{H_TS} must be Unix seconds, got {values[H_TS]!r}") from exc
    if abs(now - ts) > MAX_SKEW_SECONDS:
        raise Rejected(
            401,
            "clock_skew",
            f"{H_TS} is {now - ts:+.0f} s from the center's clock; allowed ±{MAX_SKEW_SECONDS} s",
        )
    nonce = values[H_NONCE]
    if not (16 <= len(nonce) <= 128) or not nonce.isascii() or not nonce.isalnum():
        raise Rejected(400, "bad_nonce", f"{H_NONCE} must be 16-128 letters or digits")
    body_hash = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(body_hash, values[H_BODY]):
        raise Rejected(
            400, "body_hash_mismatch", f"body SHA-256 is not {H_BODY}: the body was altered in transit"
        )
    expected = signature(
        secret,
        canonical(method, path, node, key_id, values[H_TS], nonce, values[H_IDEMPOTENCY], values[H_BODY]),
    )
    if not hmac.compare_digest(expected, values[H_SIG]):
        raise Rejected(
            401, "bad_signature", "signature does not match the request (altered, or the wrong key)"
        )
    return Caller(node, key_id, nonce, values[H_IDEMPOTENCY])
