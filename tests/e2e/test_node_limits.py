"""The national node's limits, measured on a real process (issue 20): memory under oversized bodies stays
flat, and a CPU-heavy batch does not stall /health.

Oversized bodies are sent over raw sockets, 4 at once: two declaring their 200 MB length (refused from
Content-Length before a byte is read) and two chunked without a length (refused once the stream passes
the cap). The node's resident memory is sampled from /proc while they are sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from tests.e2e.test_sync_node import KEY, NodeProcess, signed_now

pytestmark = pytest.mark.e2e

OVERSIZED = 200 * 1024 * 1024
CAP = 8 * 1024 * 1024  # the default NATIONAL_NODE_MAX_BODY_BYTES


def rss_mib(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of a process, MiB."""
    text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    fields = dict(line.split(":", 1) for line in text.splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def send_oversized(port: int, *, chunked: bool, results: list) -> None:
    """Send up to 200 MB of body; record the status line the node answers with (or how it hung up)."""
    head = "POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {OVERSIZED}\r\n\r\n"
    block = b"7" * (256 * 1024)
    piece = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.encode())
        try:
            while sent < OVERSIZED:
                s.sendall(piece)
                sent += len(block)
        except OSError:
            pass  # the node answered and closed: the rest is never read
        s.settimeout(10)
        try:
            status = s.recv(4096).split(b"\r\n", 1)[0].decode()
        except OSError as exc:
            status = f"closed ({type(exc).__name__})"
    results.append((chunked, status, sent))


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = NodeProcess(tmp_path_factory.mktemp("limits-node") / "home", f"37={KEY}").start().wait_up()
    yield n
    n.stop()


def test_four_concurrent_oversized_bodies_leave_the_nodes_memory_flat(node):
    pid = node.proc.pid
    before, _ = rss_mib(pid)
    results: list = []
    threads = [
        threading.Thread(
            target=send_oversized, args=(node.port,), kwargs={"chunked": i % 2 == 1, "results": results}
        )
        for i in range(4)
    ]
    samples = []
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        samples.append(rss_mib(pid)[0])
        time.sleep(0.02)
    for t in threads:
        t.join()
    time.sleep(0.5)
    after, peak = rss_mib(pid)
    report = {
        "rss_before_mib": round(before, 1),
        "rss_peak_sampled_mib": round(max(samples, default=before), 1),
        "vm_hwm_mib": round(peak, 1),
        "rss_after_mib": round(after, 1),
        "bytes_sent_before_refusal_mib": [round(s / 2**20, 1) for _, _, s in results],
        "answers": [a for _, a, _ in results],
    }
    print("node memory under 4 oversized bodies:", json.dumps(report))
    assert all("413" in a for _, a, _ in results), report
    assert peak - before < 64, report  # 4 x 8 MiB cap at most, never 4 x 200 MB
    assert after - before < 32, report
    assert httpx.get(f"{node.url}/health").status_code == 200


def heavy_batch(rows: int) -> tuple[bytes, str]:
    """A signed-able batch of many valid rows whose very last row is wrong: every row is validated first."""
    day = "2026-10-05"
    cells = [(f"{3700 + i // 90:04d}", f"{10 + i % 90:02d}") for i in range(rows)]
    table = pa.table(
        {
            "day": [day] * rows,
            "level": ["cell"] * rows,
            "city_code": [c for c, _ in cells],
            "industry_code": [i for _, i in cells],
            "suppressed": [False] * rows,
            "suppression": pa.array([None] * rows, pa.string()),
            "enterprises": [5] * (rows - 1) + [-1],
            "electricity_kwh": [1.5] * rows,
        }
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    payload = sink.getvalue().to_pybytes()
    bid = f"37-{day}-v1"
    manifest = {
        "batch_id": bid,
        "node": "37",
        "period": day,
        "version": 1,
        "schema_version": "1",
        "payload_format": "arrow-ipc-stream",
        "rows": rows,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "cells_suppressed": 0,
        "measures": [
            {"name": "enterprises", "grade": 2, "unit": "count", "group": "energy"},
            {"name": "electricity_kwh", "grade": 2, "unit": "kWh", "group": "energy"},
        ],
        "source_versions": {},
    }
    return json.dumps({"manifest": manifest, "payload": base64.b64encode(payload).decode()}).encode(), bid


def test_a_cpu_heavy_batch_does_not_stall_health(node):
    body, bid = heavy_batch(60_000)
    headers = signed_now(body, bid)
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client() as c:
            while not done.is_set():
                t0 = time.perf_counter()
                c.get(f"{node.url}/health", timeout=10)
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    r = httpx.post(f"{node.url}/v1/batches", content=body, headers=headers, timeout=60)
    took = time.perf_counter() - t0
    done.set()
    poller.join()
    print(
        f"batch of {len(body) / 2**20:.1f} MiB checked in {took:.2f} s; /health max {max(latencies) * 1000:.0f} ms "
        f"over {len(latencies)} probes"
    )
    assert r.status_code == 422 and r.json()["field"] == "payload.59999.enterprises", r.text
    assert took > 0.3  # heavy enough to have blocked /health on the event loop
    assert max(latencies) < took / 3  # on the event loop it would wait for the whole check
