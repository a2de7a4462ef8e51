"""MQTT collector: ISA-95 topics at QoS 1 in a persistent session, micro-batched to landing, acked when durable.

Delivery guarantee: at least once, end to end. The session is persistent (fixed client id, clean start
off, MQTT v5 session expiry), so the broker keeps what arrives while the collector is down; a message is
acknowledged (manual PUBACK) only after the landing file holding it is fsynced. A crash or a lost
connection before that makes the broker redeliver; the silver build's dedupe on (equipment, metric, ts)
removes and counts the repeats. Acks are only sent on the connection the message came in on: packet ids
are reused by the next connection, so acking an old id there could acknowledge a different message.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collectors.batch import Batch, LandingWriter, Status, dead_letter_entry
from warehouse.settings import CollectorSettings
from warehouse.uns import DeadLetter, decode_payload, parse_topic


def subscription(cfg: CollectorSettings) -> str:
    topic = f"{cfg.topic_prefix}/#"
    return f"$share/{cfg.share_group}/{topic}" if cfg.share_group else topic


def make_client(cfg: CollectorSettings, client_id: str, *, manual_ack: bool) -> mqtt.Client:
    """A v5 client with the broker credentials and TLS from settings (never logged)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if cfg.mqtt_username:
        client.username_pw_set(cfg.mqtt_username, cfg.mqtt_password)
    if cfg.mqtt_tls:
        client.tls_set(
            ca_certs=cfg.mqtt_ca_file,
            certfile=cfg.mqtt_cert_file,
            keyfile=cfg.mqtt_key_file,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


class MqttCollector:
    """One collector process. `run` blocks until `stop` is set, then flushes and acknowledges."""

    source = "mqtt"

    def __init__(
        self, cfg: CollectorSettings, landing: Path, status_dir: Path, log: Callable[[str], None] = print
    ):
        self.cfg = cfg
        self.log = log
        self.writer = LandingWriter(landing, self.source, cfg.client_id)
        self.status = Status.resume(status_dir / f"{cfg.client_id}.json")
        self.batch = Batch()
        self.lock = threading.Lock()
        self.generation = 0  # bumped on every (re)connect and disconnect; acks only for the current one
        self.connected = threading.Event()
        self.client = make_client(cfg, cfg.client_id, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # paho network thread -------------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.log(f"connect refused: {reason_code}")
            return
        with self.lock:
            self.generation += 1
            self.status.totals["connects"] += 1
        # With a resumed session the subscription already exists; subscribing again is harmless and
        # covers an expired session.
        client.subscribe(subscription(self.cfg), qos=1)
        self.connected.set()
        self.log(f"connected (session present: {flags.session_present}), subscribed {subscription(self.cfg)}")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self.lock:
            self.generation += 1
            self.status.totals["disconnects"] += 1
        self.connected.clear()
        self.log(f"disconnected: {reason_code}")

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        ack = (self.generation, msg.mid, msg.qos) if msg.qos > 0 else None
        try:
            address = parse_topic(msg.topic, self.cfg.topic_prefix)
            records = decode_payload(address, msg.payload)
        except DeadLetter as bad:
            entry = dead_letter_entry(self.source, msg.topic, msg.payload, bad.reason, bad.detail)
            with self.lock:
                self.batch.add_dead(entry, ack)
                self.status.totals["redelivered"] += int(msg.dup)
            return
        except Exception as exc:  # never crash on a message: it goes to dead letter with the error
            entry = dead_letter_entry(
                self.source, msg.topic, msg.payload, "payload_mismatch", repr(exc)[:200]
            )
            with self.lock:
                self.batch.add_dead(entry, ack)
            return
        with self.lock:
            self.batch.add(records, ack, _sent_at(msg.payload))
            self.status.totals["redelivered"] += int(msg.dup)

    # main thread ---------------------------------------------------------------------------------
    def connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        # Unacked messages the broker may send: a micro-batch's worth. Much more only queues PUBLISHes
        # in the socket ahead of the broker's PINGRESP, and a slow reader then hits its keep-alive.
        props.ReceiveMaximum = max(1, min(self.cfg.receive_maximum, 65535))
        self.client.connect_async(
            self.cfg.mqtt_host,
            self.cfg.mqtt_port,
            keepalive=self.cfg.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def due(self) -> bool:
        return self.batch.due(self.cfg.flush_readings, self.cfg.flush_seconds)

    def flush(self) -> int:
        """Write the pending batch durably, then acknowledge its messages; returns readings written."""
        with self.lock:
            batch, self.batch = self.batch, Batch()
        if not batch.messages:
            return 0
        self.writer.flush(batch)
        durable = time.time()
        acked = 0
        with self.lock:  # the generation cannot change while we ack: no ack lands on a newer connection
            for gen, mid, qos in batch.acks:
                if gen == self.generation:
                    self.client.ack(mid, qos)
                    acked += 1
        self.status.record_flush(batch, durable)
        with self.status.lock:
            self.status.totals["acked"] += acked
            self.status.totals["unacked_after_reconnect"] += len(batch.acks) - acked
        self.status.save()
        return batch.readings

    def run(self, stop: threading.Event, *, status_every: float = 5.0, progress: bool = True) -> None:
        self.connect()
        last_line = time.monotonic()
        try:
            while not stop.is_set():
                stop.wait(0.05)
                if self.due():
                    self.flush()
                if progress and time.monotonic() - last_line >= status_every:
                    last_line = time.monotonic()
                    self.log(status_line(self.status.snapshot(), self.connected.is_set()))
        finally:
            self.flush()  # graceful stop: what we hold becomes durable and is acknowledged
            time.sleep(0.2)  # let the network thread send the PUBACKs before DISCONNECT
            self.client.disconnect()
            self.client.loop_stop()
            self.status.save()
            self.log(status_line(self.status.snapshot(), False) + " (stopped)")


def _sent_at(payload: bytes) -> float | None:
    """Optional diagnostic `"sent_at": <epoch s>` in a payload (the bench sets it) for publish->durable latency."""
    i = payload.rfind(b'"sent_at":')
    if i < 0:
        return None
    tail = payload[i + 10 :].lstrip()
    end = 0
    while end < len(tail) and tail[end : end + 1] in b"0123456789.":
        end += 1
    try:
        return float(tail[:end])
    except ValueError:
        return None


def status_line(snap: dict, connected: bool) -> str:
    t = snap.get("totals", {})
    lat = snap.get("latency_s", {})
    return (
        f"{'connected' if connected else 'offline'} | messages {t.get('messages', 0):,} "
        f"readings {t.get('readings', 0):,} dead {t.get('dead_letters', 0):,} "
        f"redelivered {t.get('redelivered', 0):,} flushes {t.get('flushes', 0):,} "
        f"restarts {t.get('restarts', 0)}"
        + (f" | p95 {lat['p95']:.3f}s" if lat.get("p95") is not None else "")
    )
