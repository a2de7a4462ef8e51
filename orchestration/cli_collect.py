"""`lakehouse collect ...` (live collectors) and `lakehouse simulate ...` (simulated gateways and servers).

Wired into the main CLI with `app.add_typer(collect_app, name="collect")` and
`app.add_typer(simulate_app, name="simulate")`; `python -m orchestration.cli_collect ...` runs them alone.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from warehouse.settings import load_collector_settings, settings

console = Console(width=None if sys.stdout.isatty() else 140)
collect_app = typer.Typer(help="Live collection from key equipment (MQTT, OPC UA).", no_args_is_help=True)
simulate_app = typer.Typer(help="Simulated gateways (MQTT) and OPC UA servers.", no_args_is_help=True)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


def _stop_event() -> threading.Event:
    """Set on SIGTERM or SIGINT: the collector then flushes, acknowledges and exits 0."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _log(line: str) -> None:
    console.print(f"{dt.datetime.now():%H:%M:%S} {line}", highlight=False, soft_wrap=True)


@collect_app.command("mqtt")
def collect_mqtt(
    client_id: Annotated[
        str | None,
        typer.Option(help="Session id (default LAKEHOUSE_COLLECTOR_ID); one per collector process"),
    ] = None,
    status_every: Annotated[float, typer.Option(help="Seconds between status lines")] = 5.0,
) -> None:
    """Collect ISA-95 topics at QoS 1 into landing micro-batches until SIGTERM (then flush and ack)."""
    from dataclasses import replace

    from collectors.mqtt import MqttCollector

    s = settings()
    s.prepare()
    cfg = load_collector_settings()
    if client_id:
        cfg = replace(cfg, client_id=client_id)
    try:
        collector = MqttCollector(cfg, s.landing, s.home / "collectors" / "status", log=_log)
    except (
        OSError,
        ValueError,
    ) as exc:  # e.g. a TLS CA file that does not exist (ssl.SSLError is an OSError)
        _fail(f"collector settings: {exc}")
    _log(
        f"collecting {cfg.mqtt_host}:{cfg.mqtt_port} as {cfg.client_id!r} -> {collector.writer.telemetry_dir}"
    )
    try:
        collector.run(_stop_event(), status_every=status_every)
    except OSError as exc:
        _fail(f"broker {cfg.mqtt_host}:{cfg.mqtt_port}: {exc}")


@collect_app.command("opcua")
def collect_opcua(
    endpoint: Annotated[
        str | None, typer.Option(help="opc.tcp://host:port/path (default LAKEHOUSE_OPCUA_ENDPOINT)")
    ] = None,
    client_id: Annotated[str | None, typer.Option(help="Writer id for landing file names")] = None,
    status_every: Annotated[float, typer.Option(help="Seconds between status lines")] = 5.0,
) -> None:
    """Subscribe to every equipment variable of an OPC UA server; reconnect with backoff until SIGTERM."""
    import asyncio

    from collectors.opcua import OpcUaCollector

    s = settings()
    s.prepare()
    cfg = load_collector_settings()
    url = endpoint or cfg.opcua_endpoint
    if not url.startswith("opc.tcp://"):
        _fail(f"--endpoint must start with opc.tcp:// (got {url!r})", 2)
    collector = OpcUaCollector(
        url,
        cfg,
        s.landing,
        s.home / "collectors" / "status",
        writer_id=client_id or "opcua-collector-1",
        log=_log,
    )
    asyncio.run(collector.run(_stop_event(), status_every=status_every))


@collect_app.command("broker")
def collect_broker(
    port: Annotated[int, typer.Option(help="Loopback port")] = 18830,
    data: Annotated[
        Path | None, typer.Option(help="Persistence folder (default LAKEHOUSE_HOME/broker)")
    ] = None,
) -> None:
    """Run a private Mosquitto with the settings no-loss collection needs (collectors/mosquitto.conf)."""
    import os
    import shutil

    exe = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)
    if exe is None:
        _fail("mosquitto is not installed (apt-get install mosquitto)")
    folder = (data or settings().home / "broker").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    template = (Path(__file__).resolve().parents[1] / "collectors" / "mosquitto.conf").read_text("utf-8")
    conf = folder / "mosquitto.conf"
    import getpass

    # as root Mosquitto would switch to user "mosquitto", who cannot write our persistence folder
    user = f"user {getpass.getuser()}\n"
    conf.write_text(f"{template}\n{user}listener {port} 127.0.0.1\npersistence_location {folder}/\n", "utf-8")
    _log(f"mosquitto on 127.0.0.1:{port}, persistence in {folder}")
    sys.stdout.flush()
    os.execv(exe, [exe, "-c", str(conf)])


@collect_app.command("status")
def collect_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw status")] = False,
) -> None:
    """Every collector's counters and each enterprise's feed freshness (from the status files)."""
    folder = settings().home / "collectors" / "status"
    snaps = (
        [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    )
    if as_json:
        print(json.dumps(snaps, indent=1))
        return
    if not snaps:
        _fail(f"no collector has run under {folder}")
    now = dt.datetime.now(dt.UTC)
    table = Table(
        "collector", "updated", "messages", "readings", "dead letters", "redelivered", "restarts", "p95 s"
    )
    freshness: dict[str, str] = {}
    for snap in snaps:
        t = snap.get("totals", {})
        age = now - dt.datetime.fromisoformat(snap["updated_at"])
        table.add_row(
            snap["writer_id"],
            f"{age.total_seconds():.0f} s ago",
            f"{t.get('messages', 0):,}",
            f"{t.get('readings', 0):,}",
            ", ".join(f"{k} {v}" for k, v in sorted(snap.get("dead_letters", {}).items())) or "0",
            f"{t.get('redelivered', 0):,}",
            str(t.get("restarts", 0)),
            str(snap.get("latency_s", {}).get("p95", "")),
        )
        for uscc, at in snap.get("last_reading_by_uscc", {}).items():
            freshness[uscc] = max(freshness.get(uscc, at), at)
    console.print(table)
    fresh = Table("enterprise (uscc)", "last reading landed", "age")
    for uscc, at in sorted(freshness.items(), key=lambda kv: kv[1]):
        age = (now - dt.datetime.fromisoformat(at)).total_seconds()
        fresh.add_row(uscc, at, f"{age:.0f} s")
    console.print(fresh)


@simulate_app.command("mqtt")
def simulate_mqtt(
    enterprises: Annotated[int, typer.Option(help="Enterprises (same province as `generate --seed`)")] = 60,
    readings: Annotated[int, typer.Option(help="Readings to publish")] = 200_000,
    rate: Annotated[
        float, typer.Option(help="Readings per second (0 = as fast as the broker takes them)")
    ] = 5000.0,
    batch: Annotated[int, typer.Option(help="Readings per message (1 = one reading per message)")] = 1,
    seed: Annotated[int, typer.Option()] = 42,
    start: Annotated[
        str | None, typer.Option(help="First local day (default: so the stream ends yesterday)")
    ] = None,
    defect_rate: Annotated[float, typer.Option(help="Share of defective readings")] = 0.01,
    stamp: Annotated[bool, typer.Option(help="Put sent_at in payloads (publish -> durable latency)")] = False,
) -> None:
    """Publish the simulated province to the broker at QoS 1 and write the ground truth to the manifest."""
    import pyarrow.parquet as pq

    from collectors.mqtt import make_client
    from simulator.mqtt import TRUTH_FILE, plan_stream, province, publish, save_manifest, write_master

    if enterprises < 1 or readings < 1 or batch < 1 or not 0 <= defect_rate <= 0.2:
        _fail("--enterprises, --readings and --batch must be >= 1, --defect-rate within [0, 0.2]", 2)
    s = settings()
    s.prepare()
    cfg = load_collector_settings()
    prov = province(enterprises, seed)
    try:
        stream = plan_stream(
            prov,
            readings=readings,
            start=dt.date.fromisoformat(start) if start else None,
            seed=seed,
            prefix=cfg.topic_prefix,
            batch=batch,
            defect_rate=defect_rate,
            stamp=stamp,
        )
    except ValueError as exc:
        _fail(str(exc), 2)
    write_master(s.landing, prov)
    s.manifest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(stream.truth, s.manifest.parent / TRUTH_FILE)
    save_manifest(s.manifest, "mqtt", stream.manifest)
    pub = stream.manifest["published"]
    _log(
        f"publishing {pub['messages']:,} messages ({pub['readings']:,} readings) to {cfg.mqtt_host}:{cfg.mqtt_port}"
    )
    client = make_client(cfg, f"lakehouse-simulator-{int(time.time())}", manual_ack=False)
    try:
        result = publish(
            stream,
            client,
            cfg.mqtt_host,
            cfg.mqtt_port,
            rate=rate,
            progress=lambda n, total: None,
        )
    except (OSError, TimeoutError) as exc:
        _fail(f"broker {cfg.mqtt_host}:{cfg.mqtt_port}: {exc}")
    save_manifest(s.manifest, "mqtt", stream.manifest | {"completed": True, "publish": result})
    _log(
        f"published {result['messages']:,} messages in {result['seconds']} s, all acknowledged by the broker"
    )


@simulate_app.command("opcua")
def simulate_opcua(
    enterprises: Annotated[int, typer.Option(help="Enterprises whose equipment is served")] = 2,
    equipment: Annotated[int, typer.Option(help="Equipment to serve (first N of the province)")] = 10,
    variables: Annotated[int, typer.Option(help="Variables per equipment")] = 5,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1")] = 4840,
    interval: Annotated[float, typer.Option(help="Seconds between value changes")] = 1.0,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Serve equipment as an OPC UA address space (asyncua server) until SIGTERM; ground truth in the manifest."""
    import asyncio

    from simulator.mqtt import province, save_manifest, write_master
    from simulator.opcua import serve

    s = settings()
    s.prepare()
    prov = province(enterprises, seed)
    write_master(s.landing, prov)
    stop = _stop_event()
    truth = asyncio.run(
        serve(
            prov,
            port=port,
            equipment=equipment,
            variables=variables,
            interval=interval,
            stop=stop,
            truth_dir=s.manifest.parent,
            log=_log,
            seed=seed,
        )
    )
    save_manifest(s.manifest, f"opcua_{port}", truth)


if __name__ == "__main__":
    app = typer.Typer(no_args_is_help=True)
    app.add_typer(collect_app, name="collect")
    app.add_typer(simulate_app, name="simulate")
    app()
