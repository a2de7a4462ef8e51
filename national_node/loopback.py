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


@contextlib.contextmanager
def running_node(home: Path, node_keys: str, *, start_timeout_s: float = 90.0) -> Iterator[str]:
    """Start `python -m national_node serve` on a free loopback port; yield its URL; stop it after.

    The keys travel in the child's environment (NATIONAL_NODE_KEYS), never on its command line.
    """
    port = free_port()
    env = dict(os.environ) | {"NATIONAL_NODE_KEYS": node_keys}
    node = subprocess.Popen(
        [sys.executable, "-m", "national_node", "serve", "--port", str(port), "--home", str(home)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the national node did not start on {url}")
            time.sleep(0.25)
        yield url
    finally:
        node.terminate()
        node.wait(timeout=10)
