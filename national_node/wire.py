"""The wire protocol between a provincial node and the national center, version 1 (the node's side).

This module is the protocol's reference text; the province implements the same few lines on its own
(`assets/sync/signing.py`) and a shared test vector keeps both in step: separate programs share the
wire format, not code.

A batch is `POST /v1/batches` with a JSON envelope `{"manifest": {...}, "payload": "<base64>"}`; the
payload is an Arrow IPC stream of released aggregates. Every request carries:

| header | value |
|---|---|
| `X-Node-Id` | sending node: the GB/T 2260 province code, e.g. `37` |
| `X-Key-Id` | which of the node's keys signed (rotation: old and new ids overlap for a grace period) |
| `X-Timestamp` | Unix seconds; accepted within ±300 s of the center's clock |
| `X-Nonce` | 16+ random bytes as hex, never reused (replays are refused) |
| `X-Content-SHA256` | hex SHA-256 of the body bytes |
| `X-Signature` | hex HMAC-SHA256(key, canonical string) |
| `Idempotency-Key` | the batch id; a re-delivery with the same key gets the stored receipt |

The canonical string joins with `\\n`: the scheme `NN1-HMAC-SHA256`, method, path, node id, key id,
timestamp, nonce, Idempotency-Key and the body hash. Everything that decides what is stored is signed.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "NN1-HMAC-SHA256"
MAX_SKEW_SECONDS = 300
SCHEMA_VERSIONS = frozenset({"1", "2"})  # 2: disclosure groups (energy, trading)
PAYLOAD_FORMAT = "arrow-ipc-stream"
DISCLOSURE_THRESHOLD = 3  # enterprises per released grade-2 cell

H_NODE, H_KEY, H_TS, H_NONCE, H_BODY, H_SIG, H_IDEMPOTENCY = (
    "X-Node-Id",
    "X-Key-Id",
    "X-Timestamp",
    "X-Nonce",
    "X-Content-SHA256",
    "X-Signature",
    "Idempotency-Key",
)
SIGNED_HEADERS = (H_NODE, H_KEY, H_TS, H_NONCE, H_BODY, H_SIG, H_IDEMPOTENCY)

# GB/T 2260 province-level divisions of the mainland: the only nodes the center knows.
PROVINCES = frozenset(
    {
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
    }
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


def signature(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
