"""Delivering a batch to the national node: signed POST, retried with exponential backoff and jitter.

Connection errors, timeouts, dropped connections, 429 and 5xx are retried (each attempt re-signed with a
new timestamp and nonce, always the same Idempotency-Key, so the node stores the batch at most once).
A 409 `replayed_nonce` is retried too: the node saw that very request already (the network delivered it
twice, or an answer was lost), so the batch may be stored; re-signed, the node answers with its receipt.
Any other 4xx is the node refusing the batch and is not retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from assets.sync.batch import Batch
from assets.sync.signing import sign_request
from warehouse.domain import PROVINCE_CODE

log = logging.getLogger(__name__)

BATCHES_PATH = "/v1/batches"


@dataclass(frozen=True)
class NodeConfig:
    url: str
    key_id: str
    secret: str = field(repr=False)
    province: str = PROVINCE_CODE
    channel: str = "national"  # the national center; industry-node channels to come
    timeout_s: float = 10.0
    max_attempts: int = 6
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0


class NodeRejected(Exception):
    """The node refused the batch (4xx other than 429): retrying the same request cannot help."""

    def __init__(self, status: int, body: dict, attempts: int = 1) -> None:
        self.status, self.body, self.attempts = status, body, attempts
        self.code = str(body.get("error", "unknown"))
        super().__init__(f"node refused the batch: HTTP {status} {self.code}: {body.get('detail', '')}")


class NodeUnavailable(Exception):
    """Every attempt failed with a transient error."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        self.attempts, self.last = attempts, last
        super().__init__(
            f"national node unavailable after {attempts} attempt(s): {type(last).__name__}: {last}"
        )


class _ServerError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        super().__init__(f"HTTP {response.status_code} {response.text[:200]}")


REPLAYED = "replayed_nonce"


def _replayed(response: httpx.Response) -> bool:
    """The node had already received this exact request: an earlier copy arrived (and may be stored)."""
    if response.status_code != 409:
        return False
    try:
        return response.json().get("error") == REPLAYED
    except ValueError:
        return False


@dataclass(frozen=True)
class Delivery:
    receipt: dict
    attempts: int
    latency_ms: float  # from the first attempt to the receipt, retries included
    status: int  # 201 stored, 200 the stored receipt of an earlier delivery


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "national node attempt %d failed (%s: %s); retrying in %.1fs",
        state.attempt_number,
        type(exc).__name__,
        exc,
        wait,
    )


def deliver(
    client: httpx.Client,
    node: NodeConfig,
    batch: Batch,
    *,
    sleep=time.sleep,
    on_attempt: Callable[[int], None] | None = None,
) -> Delivery:
    """POST one batch until the node answers with a receipt, refuses it, or the attempts run out.

    `on_attempt(n)` runs before the n-th request leaves (the ledger counts it there, so a process killed
    during an attempt never leaves fewer attempts on record than the node received)."""
    body = batch.body()
    attempts = 0
    t0 = time.perf_counter()

    def attempt() -> httpx.Response:
        nonlocal attempts
        attempts += 1
        if on_attempt is not None:
            on_attempt(attempts)
        headers = sign_request(
            method="POST",
            path=BATCHES_PATH,
            body=body,
            node=node.province,
            key_id=node.key_id,
            secret=node.secret,
            idempotency_key=batch.batch_id,
        )
        response = client.post(
            f"{node.url.rstrip('/')}{BATCHES_PATH}",
            content=body,
            headers=headers | {"Content-Type": "application/json"},
            timeout=node.timeout_s,
        )
        if response.status_code >= 500 or response.status_code == 429 or _replayed(response):
            raise _ServerError(response)
        return response

    def out_of_attempts(state: RetryCallState) -> bool:
        """The attempts are spent, except that a replay on the last one earns one more: an earlier copy
        arrived, and the re-signed request only fetches its receipt (a replay never ends a send failed)."""
        if state.attempt_number < node.max_attempts:
            return False
        exc = state.outcome.exception() if state.outcome else None
        replay = isinstance(exc, _ServerError) and _replayed(exc.response)
        return not (replay and state.attempt_number == node.max_attempts)

    retrying = Retrying(
        stop=out_of_attempts,
        wait=wait_exponential_jitter(
            initial=node.backoff_initial_s, max=node.backoff_max_s, jitter=node.backoff_initial_s
        ),
        retry=retry_if_exception_type((httpx.TransportError, _ServerError)),
        before_sleep=_log_retry,
        sleep=sleep,
        reraise=True,
    )
    try:
        response = retrying(attempt)
    except (httpx.TransportError, _ServerError) as exc:
        if isinstance(exc, _ServerError) and exc.response is not None and _replayed(exc.response):
            raise NodeRejected(409, exc.response.json(), attempts) from exc
        raise NodeUnavailable(attempts, exc) from exc
    try:
        payload = response.json()
    except ValueError:
        payload = {"error": "not_json", "detail": response.text[:200]}
    if response.status_code not in (200, 201):
        raise NodeRejected(response.status_code, payload, attempts)
    return Delivery(payload, attempts, (time.perf_counter() - t0) * 1000, response.status_code)
