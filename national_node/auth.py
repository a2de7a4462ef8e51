"""Request authentication: who signed, within the clock window, over exactly these bytes.

Order matters: cheap refusals first (missing or malformed headers, clock skew, body hash), the HMAC
last; the nonce is only recorded (by the caller) for a request whose signature is good, so junk cannot
fill the nonce store. An unknown node, an unknown key id and a wrong signature get one and the same
answer (and the same work: an unknown key is checked against a dummy secret), so an outsider learns
nothing about which provinces and key ids exist. Only a caller holding a rotated-out key's secret is
told that it expired.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
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
    SIGNED_HEADERS,
    canonical,
    signature,
)

log = logging.getLogger("national_node.auth")

MAX_HEADER_CHARS = 256
_PRINTABLE = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII, no spaces
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DUMMY_SECRET = "0" * 64  # checked against when the key is unknown: the same work, the same answer
UNAUTHENTICATED = "the signature does not verify against any key this center holds for the signer"


@dataclass(frozen=True)
class Caller:
    node: str  # province code, or reader id
    key_id: str
    nonce: str
    idempotency_key: str
    reader: bool = False  # a national reader: may read every province, never sends batches


def _header(headers: Mapping[str, str], name: str, *, required: bool = True) -> str:
    value = headers.get(name) or headers.get(name.lower()) or ""
    if not value:
        if not required:
            return ""
        raise Rejected(
            400, "missing_header", f"header {name} is required (signed headers: {', '.join(SIGNED_HEADERS)})"
        )
    if len(value) > MAX_HEADER_CHARS or not _PRINTABLE.match(value):
        raise Rejected(
            400, "bad_header", f"header {name} must be 1-{MAX_HEADER_CHARS} visible ASCII characters"
        )
    return value


def authenticate(
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    keys: KeyRing,
    now: float,
    *,
    idempotent: bool = True,
) -> Caller:
    """The verified caller of a signed request, or Rejected with a 4xx saying why.

    `path` is what was signed: the request path, with `?query` when there is one. Reads
    (`idempotent=False`) need no Idempotency-Key; they sign an empty one.
    """
    values = {h: _header(headers, h, required=idempotent or h != H_IDEMPOTENCY) for h in SIGNED_HEADERS}
    node, key_id = values[H_NODE], values[H_KEY]
    for name in (H_BODY, H_SIG):
        if not _HEX64.match(values[name]):
            raise Rejected(400, "bad_header", f"header {name} must be 64 lowercase hex digits")
    try:
        ts = int(values[H_TS])
    except ValueError as exc:
        raise Rejected(400, "bad_timestamp", f"{H_TS} must be Unix seconds") from exc
    if abs(now - ts) > MAX_SKEW_SECONDS:
        raise Rejected(
            401,
            "clock_skew",
            f"{H_TS} is {now - ts:+.0f} s from the center's clock; allowed ±{MAX_SKEW_SECONDS} s",
        )
    nonce = values[H_NONCE]
    if not (16 <= len(nonce) <= 128) or not nonce.isalnum():
        raise Rejected(400, "bad_nonce", f"{H_NONCE} must be 16-128 letters or digits")
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), values[H_BODY]):
        raise Rejected(
            400, "body_hash_mismatch", f"body SHA-256 is not {H_BODY}: the body was altered in transit"
        )
    key, reader = keys.lookup(node, key_id)
    expected = signature(
        key.secret if key else _DUMMY_SECRET,
        canonical(method, path, node, key_id, values[H_TS], nonce, values[H_IDEMPOTENCY], values[H_BODY]),
    )
    if not hmac.compare_digest(expected, values[H_SIG]) or key is None:
        log.info("unauthenticated %s %s: %s", method, path, "bad signature" if key else "unknown signer")
        raise Rejected(401, "unauthenticated", UNAUTHENTICATED)
    instant = dt.datetime.fromtimestamp(now, dt.UTC)
    if key.expired(instant):
        raise Rejected(
            401, "key_expired", f"key {node}:{key_id} expired at {key.not_after.isoformat()} (rotated out)"
        )
    return Caller(node, key_id, nonce, values[H_IDEMPOTENCY], reader)
