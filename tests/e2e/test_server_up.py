"""`lakehouse server up|down` (make server-up / server-down) as separate processes with real clients."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration  # ~20 s: the webserver takes tens of seconds to load the code location
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_server_up_serves_on_loopback_and_down_stops_exactly_its_processes(tmp_path):
    import boto3

    from warehouse.settings import drop_pg_database, load_settings

    home = tmp_path / "home"
    env = dict(os.environ) | {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "server"}
    env.pop("LAKEHOUSE_PG_URL", None)
    web, s3_port = _free_port(), _free_port()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        out = subprocess.run(
            [LAKEHOUSE, "server", "up", "--webserver-port", str(web), "--objectstore-port", str(s3_port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
        assert f"http://127.0.0.1:{web}" in out and f"http://127.0.0.1:{s3_port}" in out
        pids = {p.stem: int(p.read_text()) for p in (home / "run").glob("*.pid")}
        assert set(pids) == {"webserver", "daemon", "objectstore", "worker-1", "worker-2"}
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{web}/server_info", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (home / "run" / "webserver.log").read_text()[-2000:]
            time.sleep(2)
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            region_name="us-east-1",
        )
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["lake"]
        assert _alive(pids["daemon"])

        subprocess.run([LAKEHOUSE, "server", "down"], env=env, timeout=300, check=True)
        assert not any(_alive(p) for p in pids.values())
        assert not list((home / "run").glob("*.pid"))
        assert _alive(bystander.pid)  # stopped by PID, nothing else
    finally:
        bystander.kill()
        subprocess.run([LAKEHOUSE, "server", "down"], env=env, timeout=300)
        drop_pg_database(load_settings(env).pg_database_url)
