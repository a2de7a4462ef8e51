"""Driving the collectors as a user would: separate processes over one LAKEHOUSE_HOME, a real Mosquitto.

`kill_and_recover` is the done-when scenario of issue 16 at any size: publish at QoS 1, kill -9 the
collector several times and restart it, cut its broker connection once (a TCP proxy in between is
killed and restarted), drain, stop it with SIGTERM, then `lakehouse materialize`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from national_node.loopback import free_port, wait_port

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
PROXY = str(Path(__file__).with_name("tcp_proxy.py"))


def env_for(home: Path, port: int, tag: str, **extra: str) -> dict[str, str]:
    env = (
        os.environ
        | {
            "LAKEHOUSE_HOME": str(home),
            "LAKEHOUSE_MQTT_PORT": str(port),
            "LAKEHOUSE_MQTT_TOPIC_PREFIX": f"test-{tag}",
            "LAKEHOUSE_MQTT_SHARE_GROUP": f"g-{tag}",
            "LAKEHOUSE_COLLECTOR_ID": f"c-{tag}",
            "LAKEHOUSE_COLLECT_FLUSH_SECONDS": "0.5",
            "LAKEHOUSE_COLLECT_FLUSH_READINGS": "5000",
            "GX_ANALYTICS_ENABLED": "false",
        }
        | extra
    )
    env.pop("LAKEHOUSE_WAREHOUSE_DB", None)
    env.pop("DAGSTER_HOME", None)
    return env


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    fh = open(log, "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout=timeout)


class Broker:
    """A private Mosquitto (`lakehouse collect broker`) with unlimited per-session queues."""

    def __init__(self, home: Path, log: Path) -> None:
        self.port = free_port()
        env = os.environ | {"LAKEHOUSE_HOME": str(home)}
        self.proc = start([LAKEHOUSE, "collect", "broker", "--port", str(self.port)], env, log)
        wait_port(self.port)

    def close(self) -> None:
        stop(self.proc)


def status(home: Path, tag: str) -> dict:
    path = home / "collectors" / "status" / f"c-{tag}.json"
    return json.loads(path.read_text("utf-8")) if path.exists() else {}


def wait_drained(home: Path, tag: str, at_least: int, quiet: float = 3.0, timeout: float = 300) -> dict:
    """Wait until the collector has flushed >= at_least messages and nothing new came for `quiet` s."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = status(home, tag).get("totals", {}).get("messages", 0)
        if n != last:
            last, since = n, time.monotonic()
        elif n >= at_least and time.monotonic() - since >= quiet:
            return status(home, tag)
        time.sleep(0.3)
    raise TimeoutError(f"collector flushed {last} messages, expected at least {at_least}")


@dataclass
class Run:
    home: Path
    manifest: dict
    status: dict
    kills: int
    cuts: int
    log: Path
    events: list[str] = field(default_factory=list)
    during_stream: int = 0  # kills and cuts that happened while the simulator was still publishing


def kill_and_recover(
    home: Path,
    broker_port: int,
    tag: str,
    *,
    readings: int,
    enterprises: int,
    rate: float,
    batch: int,
    kills: int = 3,
    cut_seconds: float = 1.5,
) -> Run:
    log = home / f"collect-{tag}.log"
    home.mkdir(parents=True, exist_ok=True)
    proxy_port = free_port()
    coll_env = env_for(home, proxy_port, tag)
    sim_env = env_for(home, broker_port, tag)
    proxy_args = [sys.executable, PROXY, str(proxy_port), str(broker_port)]
    proxy = start(proxy_args, coll_env, log)
    wait_port(proxy_port)
    collector_args = [LAKEHOUSE, "collect", "mqtt", "--status-every", "2"]
    collector = start(collector_args, coll_env, log)
    events: list[str] = []
    # the session must exist before publishing starts: wait for the first connection
    deadline = time.monotonic() + 120
    while status(home, tag).get("totals", {}).get(
        "connects", 0
    ) < 1 and "connected (session" not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)
    sim = start(
        [
            LAKEHOUSE, "simulate", "mqtt", "--enterprises", str(enterprises), "--readings", str(readings),
            "--rate", str(rate), "--batch", str(batch), "--seed", "7",
        ],
        sim_env,
        log,
    )  # fmt: skip
    while "publishing" not in log.read_text(errors="replace"):
        if sim.poll() is not None:
            raise AssertionError(
                f"simulator exited {sim.returncode}: {log.read_text(errors='replace')[-3000:]}"
            )
        time.sleep(0.1)
    t0 = time.monotonic()
    planned = json.loads((home / "simulator" / "manifest.json").read_text("utf-8"))["mqtt"]["published"][
        "messages"
    ]
    # kill -9 when the stream is 20%, 40%, 60% through the collector, cut the connection at 50%; each
    # only once the running collector has flushed a batch, so there is written-but-unacked work to redeliver
    moments = [((k + 1) / (kills + 2), "kill") for k in range(kills)]
    moments.append(((kills + 0.5) / (kills + 2) - 0.1, "cut"))
    cuts = during = 0
    for share, what in sorted(moments):
        flushes = status(home, tag).get("totals", {}).get("flushes", 0)
        while sim.poll() is None:
            t = status(home, tag).get("totals", {})
            if t.get("messages", 0) >= share * planned and t.get("flushes", 0) > flushes:
                break
            time.sleep(0.05)
        if sim.poll() is None:
            during += 1
        if what == "kill":
            collector.send_signal(signal.SIGKILL)
            collector.wait()
            events.append(f"{time.monotonic() - t0:.1f}s kill -9 collector")
            collector = start(collector_args, coll_env, log)
        else:
            proxy.send_signal(signal.SIGKILL)
            proxy.wait()
            events.append(f"{time.monotonic() - t0:.1f}s broker connection cut")
            time.sleep(cut_seconds)
            proxy = start(proxy_args, coll_env, log)
            cuts += 1
    assert sim.wait(timeout=600) == 0, log.read_text(errors="replace")[-3000:]
    manifest = json.loads((home / "simulator" / "manifest.json").read_text("utf-8"))["mqtt"]
    # the counters are lifetime totals: the collector started last must be up (and taking its
    # redeliveries) before "drained" means anything, and before SIGTERM finds its handler installed
    deadline = time.monotonic() + 120
    while "connected (session" not in (text := log.read_text(errors="replace"))[text.rfind("collecting ") :]:
        assert time.monotonic() < deadline and collector.poll() is None, text[-3000:]
        time.sleep(0.1)
    drained = wait_drained(home, tag, manifest["published"]["messages"])
    assert stop(collector) == 0, log.read_text(errors="replace")[-3000:]
    stop(proxy, signal.SIGKILL)
    return Run(home, manifest, drained, kills, cuts, log, events, during)


def dead_letters(home: Path) -> Counter:
    """Distinct dead-lettered messages (a redelivered one is written again) per reason."""
    seen = set()
    for path in (home / "landing" / "dead_letter").rglob("*.jsonl"):
        for line in path.read_text("utf-8").splitlines():
            e = json.loads(line)
            seen.add((e["topic"], e["payload"], e["reason"]))
    return Counter(reason for _, _, reason in seen)
