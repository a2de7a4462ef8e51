"""A reference national node as a child process on loopback: for the demo and the benchmark."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0, *, proc: subprocess.Popen | None = None) -> None:
    """Return once something accepts TCP connections on loopback `port` (a service that speaks no HTTP:
    a broker, the SQL endpoint). TimeoutError after `timeout` s; RuntimeError as soon as `proc` exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the process meant to listen on 127.0.0.1:{port} exited") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.1)


@contextlib.contextmanager
def running_service(
    args: list[str], *, name: str, port: int, env: dict[str, str], start_timeout_s: float = 90.0
) -> Iterator[str]:
    """Start `python <args>` listening on loopback `port`; yield its URL once /health answers 200;
    SIGTERM it after (it flushes what it holds), SIGKILL if it does not stop within 20 s.

    Shared by the demo's national node, the benches and the resolver: one way to run a service child."""
    proc = subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise RuntimeError(f"the {name} did not start on {url}: {tail}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_node(
    home: Path,
    node_keys: str,
    *,
    start_timeout_s: float = 90.0,
    role: str = "national",
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start `python -m national_node serve --role ROLE` on a free loopback port; yield its URL; stop it
    after. The keys travel in the child's environment (NATIONAL_NODE_KEYS), never on its command line;
    `env` adds to it (e.g. NATIONAL_NODE_READERS)."""
    port = free_port()
    args = ["-m", "national_node", "serve", "--port", str(port), "--home", str(home), "--role", role]
    child = dict(os.environ) | (env or {}) | {"NATIONAL_NODE_KEYS": node_keys}
    with running_service(
        args, name=f"{role} node", port=port, env=child, start_timeout_s=start_timeout_s
    ) as url:
        yield url
