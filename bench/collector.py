"""Collector benchmark: sustained QoS 1 throughput, publish -> durable latency, RSS over a soak.

    python -m bench.collector [--soak-minutes 2] [--parts soak] [--out bench/results/collector.json]

`make bench` (`lakehouse bench --collector-minutes 2`) keeps the soak short; the issue's 10-minute soak is
`make bench-soak` (`--parts soak --soak-minutes 10`, written to bench/results/collector_soak.*).

Everything runs as separate processes over a fresh LAKEHOUSE_HOME under /tmp: a private Mosquitto
(`lakehouse collect broker`, unlimited session queues), `lakehouse collect mqtt`, `lakehouse simulate mqtt`.

* throughput: the stream is published while the collector is down (the broker keeps it in the
  persistent session), then the collector is started and timed from its connection until every reading
  is in a durable landing file: the collector's own rate, not the publisher's. Batched (100 readings a
  message) and single (one reading a message).
* latency: the simulator stamps `sent_at` into every payload at a steady rate; the collector reports
  p50/p95/p99 of durable-time minus sent_at.
* soak: steady publishing for --soak-minutes while the collector's RSS is sampled every second; flat
  means the last third's peak is within 5% of the first third's (the fitted slope after the first
  minute of warm-up, and a sample every 30 s, are reported beside it: allocator steps of a few MB are
  not a trend).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from national_node.loopback import free_port, wait_port

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


class Setup:
    def __init__(self, root: Path, name: str, broker_port: int) -> None:
        self.home = root / name
        self.home.mkdir(parents=True)
        self.tag = name
        self.env = os.environ | {
            "LAKEHOUSE_HOME": str(self.home),
            "LAKEHOUSE_MQTT_PORT": str(broker_port),
            "LAKEHOUSE_MQTT_TOPIC_PREFIX": f"bench-{name}",
            "LAKEHOUSE_MQTT_SHARE_GROUP": f"bench-{name}",
            "LAKEHOUSE_COLLECTOR_ID": f"bench-{name}",
        }
        self.log = open(self.home / "bench.log", "ab")  # noqa: SIM115

    def spawn(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([LAKEHOUSE, *args], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def status(self) -> dict:
        path = self.home / "collectors" / "status" / f"bench-{self.tag}.json"
        try:
            return json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    def simulate(self, readings: int, batch: int, rate: float, stamp: bool = False) -> subprocess.Popen:
        args = ["simulate", "mqtt", "--enterprises", "60", "--readings", str(readings), "--batch", str(batch)]
        args += ["--rate", str(rate), "--defect-rate", "0", "--seed", "11"] + (["--stamp"] if stamp else [])
        return self.spawn(*args)


def _collector_once_to_create_session(s: Setup) -> None:
    proc = s.spawn("collect", "mqtt", "--status-every", "60")
    while s.status().get("totals", {}).get("connects", 0) < 1 and "connected (session" not in (
        s.home / "bench.log"
    ).read_text(errors="replace"):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def throughput(root: Path, port: int, *, readings: int, batch: int) -> dict:
    """Readings/s and messages/s the collector lands from a backlog held by the broker."""
    s = Setup(root, f"tput-b{batch}", port)
    _collector_once_to_create_session(s)
    if s.simulate(readings, batch, rate=0).wait(timeout=1800) != 0:
        raise RuntimeError(f"simulator failed: {(s.home / 'bench.log').read_text(errors='replace')[-2000:]}")
    manifest = json.loads((s.home / "simulator" / "manifest.json").read_text("utf-8"))["mqtt"]["published"]
    before = s.status().get("totals", {}).get("readings", 0)
    log = s.home / "bench.log"
    connected = log.read_text(errors="replace").count("connected (session")
    proc = s.spawn("collect", "mqtt", "--status-every", "60")
    t0 = None
    peak = 0
    ps = psutil.Process(proc.pid)
    while True:
        t = s.status().get("totals", {})
        # The clock starts at the collector's connect line: the status file is only written at a flush, so
        # its `connects` shows the connection after the first batch is already durable (a small stream
        # then measured in milliseconds).
        if t0 is None and log.read_text(errors="replace").count("connected (session") > connected:
            t0 = time.monotonic()
        if t.get("readings", 0) - before >= manifest["readings"]:
            break
        peak = max(peak, ps.memory_info().rss)
        time.sleep(0.05)
    seconds = time.monotonic() - (t0 or time.monotonic())
    cpu = ps.cpu_times()
    cpu_s = cpu.user + cpu.system  # includes start-up imports: a conservative per-CPU-second figure
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return {
        "batch": batch,
        "messages": manifest["messages"],
        "readings": manifest["readings"],
        "seconds": round(seconds, 2),
        "readings_per_s": round(manifest["readings"] / seconds),
        "messages_per_s": round(manifest["messages"] / seconds),
        "peak_rss_mb": round(peak / 2**20, 1),
        "collector_cpu_s": round(cpu_s, 2),
        "readings_per_cpu_s": round(manifest["readings"] / cpu_s),
        "messages_per_cpu_s": round(manifest["messages"] / cpu_s),
    }


def soak(root: Path, port: int, *, seconds: float, rate: float, batch: int) -> dict:
    """Steady publishing with `sent_at` stamps: latency percentiles and the collector's RSS over time."""
    s = Setup(root, f"soak-b{batch}", port)
    proc = s.spawn("collect", "mqtt", "--status-every", "30")
    while s.status().get("totals", {}).get("connects", 0) < 1 and "connected (session" not in (
        s.home / "bench.log"
    ).read_text(errors="replace"):
        time.sleep(0.1)
    sim = s.simulate(int(seconds * rate), batch, rate=rate, stamp=True)
    ps = psutil.Process(proc.pid)
    samples: list[tuple[float, float]] = []
    t0 = time.monotonic()
    while sim.poll() is None:
        samples.append((time.monotonic() - t0, ps.memory_info().rss / 2**20))
        time.sleep(1.0)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    snap = s.status()
    return {
        "batch": batch,
        "rate_readings_per_s": rate,
        "seconds": round(samples[-1][0], 1) if samples else 0,
        "readings": snap.get("totals", {}).get("readings", 0),
        "readings_per_s": round(snap.get("totals", {}).get("readings", 0) / max(samples[-1][0], 1e-9))
        if samples
        else 0,
        "latency_s": snap.get("latency_s", {}),
        "rss_mb": rss_summary(samples),
    }


def _every(samples: list[tuple[float, float]], step: float) -> list[float]:
    """The first sample of each `step` seconds."""
    out, next_t = [], 0.0
    for t, r in samples:
        if t >= next_t:
            out.append(round(r, 1))
            next_t = t - t % step + step
    return out


def rss_summary(samples: list[tuple[float, float]], warmup_s: float = 60) -> dict:
    """Peaks of the first and last third, and the least-squares slope after warm-up (MB per minute)."""
    rss = [r for _, r in samples]
    if not rss:
        return {}
    third = max(1, len(rss) // 3)
    steady = [(t, r) for t, r in samples if t >= warmup_s] or samples
    n = len(steady)
    mean_t = sum(t for t, _ in steady) / n
    mean_r = sum(r for _, r in steady) / n
    var = sum((t - mean_t) ** 2 for t, _ in steady)
    slope = sum((t - mean_t) * (r - mean_r) for t, r in steady) / var * 60 if var else 0.0
    first, last = max(rss[:third]), max(rss[-third:])
    return {
        "series_30s": _every(samples, 30.0),  # to look at, not judged
        "peak": round(max(rss), 1),
        "first_third_peak": round(first, 1),
        "last_third_peak": round(last, 1),
        "slope_mb_per_min": round(slope, 3),
        "flat": last <= first * 1.05,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batched-readings", type=int, default=200_000)
    p.add_argument("--single-readings", type=int, default=50_000)
    p.add_argument("--soak-minutes", type=float, default=2)
    p.add_argument("--soak-rate", type=float, default=2000)
    p.add_argument("--out", type=Path, default=Path("bench/results/collector.json"))
    p.add_argument(
        "--parts", default="throughput_batched,throughput_single,soak", help="comma-separated subset"
    )
    args = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="collect-bench-"))
    port = free_port()
    broker = subprocess.Popen(
        [LAKEHOUSE, "collect", "broker", "--port", str(port), "--data", str(root / "broker")],
        env=os.environ | {"LAKEHOUSE_HOME": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, timeout=60)
        result: dict = {
            "machine": {"cpus": os.cpu_count(), "load_avg_1m_at_start": round(os.getloadavg()[0], 1)}
        }
        for name, part in (
            ("throughput_batched", lambda: throughput(root, port, readings=args.batched_readings, batch=100)),
            ("throughput_single", lambda: throughput(root, port, readings=args.single_readings, batch=1)),
            ("soak", lambda: soak(root, port, seconds=args.soak_minutes * 60, rate=args.soak_rate, batch=1)),
        ):
            if name not in args.parts.split(","):
                continue
            result[name] = part()
            print(name, json.dumps(result[name]), flush=True)
        result["machine"]["load_avg_1m_at_end"] = round(os.getloadavg()[0], 1)
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    args.out.with_suffix(".md").write_text(report(result) + "\n", "utf-8")
    print(report(result))
    return result


def report(r: dict) -> str:
    """A Markdown table of the parts that ran."""
    rows = []
    if b := r.get("throughput_batched"):
        rows.append(
            f"| throughput, 100 readings/message | >= 20,000 readings/s | {b['readings_per_s']:,} readings/s ({b['messages_per_s']:,} msg/s, {b['readings']:,} readings in {b['seconds']} s) |"
        )
    if s1 := r.get("throughput_single"):
        rows.append(
            f"| throughput, 1 reading/message | >= 5,000 msg/s | {s1['messages_per_s']:,} msg/s ({s1['readings']:,} in {s1['seconds']} s) |"
        )
    if b and s1:
        rows.append(
            f"| per CPU-second of the collector (load-independent), batched / single | – | {b.get('readings_per_cpu_s', 0):,} readings / {s1.get('messages_per_cpu_s', 0):,} msg |"
        )
    if soak_ := r.get("soak"):
        lat, rss = soak_["latency_s"], soak_["rss_mb"]
        rows += [
            f"| publish -> durable file, p50 / p95 / p99 | p95 <= 2 s | {lat.get('p50')} / {lat.get('p95')} / {lat.get('p99')} s at {soak_['rate_readings_per_s']:,.0f} msg/s |",
            f"| sustained over the {soak_['seconds']} s soak | – | {soak_.get('readings', 0):,} readings, {soak_.get('readings_per_s', 0):,} readings/s |",
            f"| collector RSS over the soak: first third / last third / peak; slope after 1 min | flat | {rss.get('first_third_peak')} / {rss.get('last_third_peak')} / {rss.get('peak')} MB; {rss.get('slope_mb_per_min')} MB/min ({'flat' if rss.get('flat') else 'NOT flat'}) |",
        ]
    return "\n".join(
        [
            "## Collector (MQTT, QoS 1, private Mosquitto on loopback)",
            "",
            "| measure | goal | measured |",
            "|---|---|---|",
            *rows,
            "",
            f"Machine: {r['machine']['cpus']} CPUs, 1-minute load average {r['machine']['load_avg_1m_at_start']} at start, {r['machine'].get('load_avg_1m_at_end')} at end (shared).",
        ]
    )


if __name__ == "__main__":
    main()
