"""Broker credentials and TLS from settings, against a real Mosquitto that requires both.

A private Mosquitto listens with TLS only (a test CA signs its certificate for 127.0.0.1) and refuses
anonymous clients; the simulator and the collector reach it through LAKEHOUSE_MQTT_TLS, _CA_FILE,
_USERNAME and _PASSWORD alone. A wrong password connects nothing, and no log holds the password.
"""

from __future__ import annotations

import getpass
import json
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import polars as pl
import pytest

from tests.e2e.collect_support import LAKEHOUSE, env_for, free_port, start, stop, wait_drained, wait_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not shutil.which("mosquitto") or not shutil.which("openssl"), reason="needs mosquitto"
    ),
]
PASSWORD = "tls-" + uuid.uuid4().hex  # in no log


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def tls_broker(root: Path) -> tuple[subprocess.Popen, int]:
    """Mosquitto with TLS only and a password file; returns the process and its port."""
    root.mkdir(parents=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "1", "-subj", "/CN=lakehouse test CA", cwd=root)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=root)  # fmt: skip
    (root / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.crt", "-days", "1", "-extfile", "san.ext", cwd=root)  # fmt: skip
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(root / "passwd"), "collector", PASSWORD], check=True, timeout=30
    )
    port = free_port()
    (root / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {root / 'passwd'}\n"
        f"cafile {root / 'ca.crt'}\ncertfile {root / 'server.crt'}\nkeyfile {root / 'server.key'}\n"
        "persistence false\nmax_queued_messages 0\n"
        f"user {getpass.getuser()}\n"  # as root Mosquitto would switch to "mosquitto", who cannot read these
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(root / "mosquitto.conf")],
        stdout=open(root / "broker.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    wait_port(port)
    return proc, port


def test_collector_and_simulator_reach_a_broker_that_requires_tls_and_a_password(tmp_path):
    broker, port = tls_broker(tmp_path / "broker")
    tag = uuid.uuid4().hex[:8]
    home = tmp_path / "home"
    home.mkdir()
    secure = {
        "LAKEHOUSE_MQTT_TLS": "1",
        "LAKEHOUSE_MQTT_CA_FILE": str(tmp_path / "broker" / "ca.crt"),
        "LAKEHOUSE_MQTT_USERNAME": "collector",
    }
    log = home / "c.log"
    try:
        wrong = start(
            [LAKEHOUSE, "collect", "mqtt", "--client-id", f"wrong-{tag}"],
            env_for(home, port, tag, **secure, LAKEHOUSE_MQTT_PASSWORD="not-" + PASSWORD),
            home / "wrong.log",
        )
        env = env_for(home, port, tag, **secure, LAKEHOUSE_MQTT_PASSWORD=PASSWORD)
        collector = start([LAKEHOUSE, "collect", "mqtt", "--status-every", "1"], env, log)
        deadline = time.monotonic() + 120
        while "connected (session" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline and collector.poll() is None, log.read_text(errors="replace")
            time.sleep(0.2)
        sim = start(
            [LAKEHOUSE, "simulate", "mqtt", "--enterprises", "3", "--readings", "500", "--rate", "0"],
            env,
            log,
        )
        assert sim.wait(timeout=300) == 0, log.read_text(errors="replace")
        manifest = json.loads((home / "simulator" / "manifest.json").read_text("utf-8"))["mqtt"]
        wait_drained(home, tag, manifest["published"]["messages"], quiet=2)
        assert stop(collector, signal.SIGTERM) == 0
        stop(wrong, signal.SIGTERM)
    finally:
        stop(broker)
    landed = pl.concat(
        [pl.read_parquet(f) for f in (home / "landing" / "telemetry" / "collector").rglob("*.parquet")]
    )
    assert landed.height == manifest["published"]["readings"]
    refused = (home / "wrong.log").read_text(errors="replace")
    assert "connect refused" in refused and "connected (session" not in refused, refused
    # `lakehouse collect status`: the collector's counters and each enterprise's feed freshness
    shown = subprocess.run(
        [LAKEHOUSE, "collect", "status"],
        env=env | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert f"c-{tag}" in shown.stdout and f"{manifest['published']['readings']:,}" in shown.stdout
    assert all(uscc in shown.stdout for uscc in landed["uscc"].unique()), shown.stdout
    for text in (log, home / "wrong.log", tmp_path / "broker" / "broker.log"):
        assert PASSWORD not in text.read_text(errors="replace")
