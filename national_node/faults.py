"""Fault injection for tests, switched on only by NATIONAL_NODE_FAULTS (unset in any real deployment).

The variable is `on` or a comma-separated sequence applied to successive `POST /v1/batches` requests,
one fault per request, then normal service. While it is set (and only then) `POST /_faults` with
`{"faults": "<sequence>"}` queues more, so one node process serves a whole test module:

    503        answer 503 before looking at the request (nothing stored)
    500        process and store the batch, then answer 500 instead of the receipt
    drop       process and store the batch, then drop the TCP connection without any reply
    delay=S    read the request, wait S seconds, then process and store it even if the client has given
               up in the meantime (it times out first: "stored after the client timed out")
    dup        the network delivers the request twice: the first copy is processed (and stored), the
               client gets the answer to the second copy (409 replayed_nonce)
    ok         process normally (a placeholder to place later faults)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque

log = logging.getLogger("national_node.faults")

FAULTS_ENV = "NATIONAL_NODE_FAULTS"
_KINDS = ("503", "500", "drop", "delay", "dup", "ok")


def parse_faults(spec: str) -> list[tuple[str, float]]:
    faults = []
    for item in (s.strip() for s in spec.split(",")):
        if not item or item == "on":
            continue
        kind, _, arg = item.partition("=")
        if kind not in _KINDS:
            raise ValueError(f"{FAULTS_ENV}: unknown fault {kind!r}; expected one of {_KINDS}")
        faults.append((kind, float(arg) if arg else 0.0))
    return faults


async def _send_status(send, status: int, code: str) -> None:
    body = json.dumps({"error": code, "detail": f"fault injection: {code}"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_all(receive) -> list[dict]:
    """The whole request as ASGI messages, so it can be replayed after the client is gone."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            return messages


def _replay(messages: list[dict]):
    queue = deque(messages)

    async def receive() -> dict:
        if queue:
            return queue.popleft()
        await asyncio.sleep(3600)  # the app never asks for more once the body is complete
        return {"type": "http.disconnect"}

    return receive


async def _swallow(message) -> None:  # a reply that never reaches the client
    return None


class FaultInjection:
    """ASGI wrapper, outermost, so that `drop` can reach the server's transport."""

    def __init__(self, app, faults: list[tuple[str, float]]) -> None:
        self.app = app
        self.faults = deque(faults)

    async def _control(self, receive, send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            self.faults.extend(parse_faults(json.loads(body or b"{}").get("faults", "")))
        except (ValueError, AttributeError) as exc:
            await _send_status(send, 400, f"bad_fault_spec: {exc}")
            return
        reply = json.dumps({"queued": [k for k, _ in self.faults]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(reply)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": reply})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/_faults":
            await self._control(receive, send)
            return
        targeted = scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/batches"
        if not targeted or not self.faults:
            await self.app(scope, receive, send)
            return
        kind, arg = self.faults.popleft()
        log.warning("injecting fault %s", kind)
        if kind == "503":
            await _send_status(send, 503, "injected_unavailable")
        elif kind == "delay":
            request = await _read_all(receive)
            await asyncio.sleep(arg)

            async def reply(message) -> None:  # the client may have hung up: store all the same
                try:
                    await send(message)
                except Exception:  # noqa: BLE001 - a closed connection, whatever the server calls it
                    log.warning("delayed reply not delivered: the client is gone")

            await self.app(scope, _replay(request), reply)
        elif kind == "dup":
            request = await _read_all(receive)
            await self.app(scope, _replay(request), _swallow)
            await self.app(scope, _replay(request), send)
        elif kind in ("500", "drop"):
            await self.app(scope, receive, _swallow)
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if kind == "drop" and transport is not None:
                transport.abort()
            else:
                await _send_status(send, 500, "injected_error_after_store")
        else:
            await self.app(scope, receive, send)
