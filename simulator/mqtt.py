"""`lakehouse simulate mqtt`: the simulated province's gateways publishing to a broker, with ground truth.

The province and its clean readings come from the same generators as `lakehouse generate` (same seed,
same master data, written to landing/master when absent). Readings are published slot by slot (15-minute
slots from `start`, local time) on ISA-95 topics (warehouse/uns.py), `batch` consecutive readings of
one series per message. Defects on the wire, each at its share of `defect_rate`:

* readings the pipeline must quarantine: `bad_value` (text), `value_missing` (null), `unknown_unit`;
* readings published twice (`duplicates`, removed and counted by the silver dedupe);
* messages the collector must dead-letter: `undecodable`, `unknown_topic`, `payload_mismatch`.

Ground truth goes to the manifest's "mqtt" key, and every reading silver must hold exactly once
(equipment_id, metric, ts_utc, value) to simulator/mqtt_truth.parquet.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import paho.mqtt.client as mqtt
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.province import Province, build_province
from simulator.telemetry import METRIC_NAMES, SLOTS, simulate
from warehouse.domain import METRICS, SAMPLING_INTERVAL_MINUTES, TIMEZONE
from warehouse.uns import topic_for

_TZ = ZoneInfo(TIMEZONE)
READING_DEFECTS = {"bad_value": 0.3, "value_missing": 0.25, "unknown_unit": 0.2, "duplicate": 0.25}
MESSAGE_DEFECTS = ("undecodable", "unknown_topic", "payload_mismatch")
TRUTH_FILE = "mqtt_truth.parquet"


@dataclass
class Message:
    topic: str
    payload: bytes
    readings: int  # readings it carries (0 for a dead letter)


@dataclass
class Stream:
    messages: list[Message]
    truth: pa.Table
    manifest: dict


def _address(prov: Province) -> dict[int, tuple[str, str, str, str, str]]:
    eq = prov.equipment.select("uscc", "site_id", "area_id", "line_id", "equipment_id")
    return dict(enumerate(eq.iter_rows()))


def days_needed(prov: Province, readings: int, batch: int = 1) -> int:
    """Days of 15-minute slots the stream spans; by default it ends yesterday (local), inside the watermark."""
    series = int(prov.equipment["metrics"].str.split(",").list.len().sum())
    return max(1, math.ceil(readings / (series * SLOTS)) + (1 if batch > 1 else 0))


def plan_stream(
    prov: Province,
    *,
    readings: int,
    start: dt.date | None,
    seed: int,
    prefix: str,
    batch: int = 1,
    defect_rate: float = 0.01,
    stamp: bool = False,
) -> Stream:
    """Every message to publish, in order, and the readings silver must end up with."""
    rng_values, rng_defects = np.random.default_rng([seed, 1883]).spawn(2)
    days = days_needed(prov, readings, batch)
    start = start or dt.datetime.now(_TZ).date() - dt.timedelta(days=days)
    grid = simulate(prov, days, start, rng_values)
    n_series, n_slots = grid.values.shape
    if n_series * n_slots < readings:
        raise ValueError(f"{readings} readings need more than {days} days of this province")
    addr = _address(prov)
    t0 = dt.datetime.combine(start, dt.time(0), tzinfo=_TZ)
    # slot-major order, in blocks of `batch` slots so a message holds consecutive readings of one series
    cells: list[tuple[int, int]] = []
    for block in range(0, n_slots, batch):
        slots = range(block, min(block + batch, n_slots))
        for s in range(n_series):
            cells.extend((s, t) for t in slots)
            if len(cells) >= readings:
                break
        if len(cells) >= readings:
            break
    cells = cells[:readings]
    kinds = np.full(readings, "clean", dtype=object)
    hit = rng_defects.random(readings) < defect_rate
    names = list(READING_DEFECTS)
    kinds[hit] = rng_defects.choice(names, size=int(hit.sum()), p=list(READING_DEFECTS.values()))

    messages: list[Message] = []
    truth: dict[str, list] = {"equipment_id": [], "metric": [], "ts": [], "value": []}
    expected = Counter()
    repeats: list[tuple[str, dict]] = []
    i = 0
    while i < len(cells):
        s = cells[i][0]
        j = i
        while j < len(cells) and j - i < batch and cells[j][0] == s:
            j += 1
        eq = int(grid.series_eq[s])
        metric = METRIC_NAMES[int(grid.series_metric[s])]
        topic = topic_for(prefix, *addr[eq][:4], addr[eq][4], metric)
        items = []
        for k in range(i, j):
            t = cells[k][1]
            ts = (t0 + dt.timedelta(minutes=SAMPLING_INTERVAL_MINUTES * t)).isoformat()
            value = float(grid.values[s, t])
            item = {"ts": ts, "value": value, "unit": METRICS[metric].unit}
            kind = kinds[k]
            if kind == "bad_value":
                item["value"] = "ERR"
            elif kind == "value_missing":
                item["value"] = None
            elif kind == "unknown_unit":
                item["unit"] = "furlong"
            if kind in ("clean", "duplicate"):
                truth["equipment_id"].append(addr[eq][4])
                truth["metric"].append(metric)
                truth["ts"].append(t0 + dt.timedelta(minutes=SAMPLING_INTERVAL_MINUTES * t))
                truth["value"].append(value)
                expected["clean"] += 1
            else:
                expected[kind] += 1
            if kind == "duplicate":
                repeats.append((topic, dict(item)))
                expected["duplicates"] += 1
            items.append(item)
        messages.append(Message(topic, _payload(items, batch, stamp), len(items)))
        i = j
    # duplicates are re-sent later in the stream, as a gateway resending after a timeout would
    extras = [
        (int(rng_defects.integers(0, len(messages) + 1)), Message(topic, _payload([item], 1, stamp), 1))
        for topic, item in repeats
    ]
    dead = Counter()
    n_dead = max(len(MESSAGE_DEFECTS), round(defect_rate * len(messages) * 0.2)) if defect_rate > 0 else 0
    some_topic = messages[0].topic
    for n in range(n_dead):
        reason = MESSAGE_DEFECTS[n % len(MESSAGE_DEFECTS)]
        if reason == "undecodable":
            msg = Message(some_topic, b"\xff\xfe{not json" + str(n).encode(), 0)
        elif reason == "unknown_topic":
            msg = Message(f"{prefix}/unknown/{n}", json.dumps({"ts": "x", "value": 1}).encode(), 0)
        else:
            msg = Message(
                some_topic, json.dumps({"ts": "x", "value": 1, "equipment_id": f"OTHER{n}"}).encode(), 0
            )
        dead[reason] += 1
        extras.append((int(rng_defects.integers(0, len(messages) + 1)), msg))
    messages = _merge(messages, extras)
    quarantined = {r: expected[r] for r in ("bad_value", "value_missing", "unknown_unit")}
    manifest = {
        "params": {
            "enterprises": prov.enterprises.height,
            "readings": readings,
            "start": start.isoformat(),
            "seed": seed,
            "batch": batch,
            "defect_rate": defect_rate,
            "prefix": prefix,
        },
        "published": {
            "messages": len(messages),
            "readings": sum(m.readings for m in messages),
            "dead_letter_messages": sum(dead.values()),
        },
        "expected": {
            "landed": readings + expected["duplicates"],
            "clean": expected["clean"],
            "duplicates": expected["duplicates"],
            "quarantined": quarantined,
            "dead_letter": dict(dead),
        },
        "truth_file": TRUTH_FILE,
        "completed": False,
    }
    schema = pa.schema(
        [
            ("equipment_id", pa.string()),
            ("metric", pa.string()),
            ("ts_utc", pa.timestamp("us", "UTC")),
            ("value", pa.float64()),
        ]
    )
    table = pa.table(
        {
            "equipment_id": truth["equipment_id"],
            "metric": truth["metric"],
            "ts_utc": pa.array([t.astimezone(dt.UTC) for t in truth["ts"]], pa.timestamp("us", "UTC")),
            "value": truth["value"],
        },
        schema=schema,
    )
    return Stream(messages, table, manifest)


def _merge(messages: list[Message], extras: list[tuple[int, Message]]) -> list[Message]:
    """Insert each extra message before position `pos` of the original stream."""
    out: list[Message] = []
    extras.sort(key=lambda e: e[0])
    k = 0
    for pos, msg in enumerate(messages):
        while k < len(extras) and extras[k][0] <= pos:
            out.append(extras[k][1])
            k += 1
        out.append(msg)
    out.extend(m for _, m in extras[k:])
    return out


def _payload(items: list[dict], batch: int, stamp: bool) -> bytes:
    if batch == 1 and len(items) == 1:
        body: object = items[0] | ({"sent_at": 0.0} if stamp else {})
    else:
        body = {"readings": items} | ({"sent_at": 0.0} if stamp else {})
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


_STAMP = b'"sent_at": 0.0'


def _stamped(payload: bytes) -> bytes:
    return payload.replace(_STAMP, f'"sent_at": {time.time():.6f}'.encode(), 1)


def write_master(landing: Path, prov: Province) -> None:
    """Master data the silver build needs, written once (a `lakehouse generate` may have written it)."""
    folder = landing / "master"
    if (folder / "equipment.parquet").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (
        ("enterprises", prov.enterprises),
        ("sites", prov.sites),
        ("equipment", prov.equipment),
    ):
        tmp = folder / f".{name}.parquet.tmp"
        pq.write_table(frame.to_arrow(), tmp)
        os.replace(tmp, folder / f"{name}.parquet")


def save_manifest(manifest_path: Path, key: str, entry: dict) -> None:
    """Merge `entry` under `key` into the simulator manifest (atomically)."""
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {}
    current[key] = entry
    tmp = manifest_path.with_name(f".{manifest_path.name}.tmp")
    tmp.write_text(json.dumps(current, sort_keys=True, indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(tmp, manifest_path)


def province(enterprises: int, seed: int) -> Province:
    """The same province `lakehouse generate --seed` builds (same generator stream)."""
    rng_master = np.random.default_rng(seed).spawn(4)[0]
    return build_province(enterprises, rng_master)


def publish(
    stream: Stream,
    client: mqtt.Client,
    host: str,
    port: int,
    *,
    rate: float,
    progress=None,
) -> dict:
    """Publish every message at QoS 1, `rate` readings/s (0 = as fast as possible); wait for all PUBACKs."""
    acked = 0
    done = threading.Event()
    total = len(stream.messages)
    lock = threading.Lock()

    def on_publish(client, userdata, mid, reason_code, properties) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked >= total:
                done.set()

    client.on_publish = on_publish
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    started = time.monotonic()
    sent_readings = 0
    try:
        for n, msg in enumerate(stream.messages):
            client.publish(msg.topic, _stamped(msg.payload), qos=1)
            sent_readings += max(msg.readings, 1)
            if rate > 0:
                ahead = sent_readings / rate - (time.monotonic() - started)
                if ahead > 0.002:
                    time.sleep(ahead)
            while n - acked > 1000:  # bound paho's own queue: a stamped message goes out promptly
                time.sleep(0.001)
            if progress is not None and n % 2000 == 0:
                progress(n, total)
        if not done.wait(timeout=max(120.0, total / 200)):
            raise TimeoutError(f"broker acknowledged {acked} of {total} messages")
    finally:
        client.disconnect()
        client.loop_stop()
    elapsed = time.monotonic() - started
    return {"messages": total, "acked": acked, "seconds": round(elapsed, 3)}
