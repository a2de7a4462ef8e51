"""The live-collection contract: ISA-95 MQTT topics (Unified Namespace), their JSON payloads, OPC UA quality.

Shared by the collectors (collectors/) and the simulators (simulator/), which are separate programs:
both import it from here so the publisher and the subscriber cannot drift apart.

Topics: ``<prefix>/<uscc>/<site>/<area>/<line>/<equipment>/<metric>`` carry one series. A payload is
one reading ``{"ts": ..., "value": ..., "unit": ...}`` (optional ``"quality"``: good / uncertain / bad),
or a batch of them: a JSON array, or ``{"readings": [...]}``. A gateway may also publish a batch for a
whole machine on ``<prefix>/<uscc>/<site>/<area>/<line>/<equipment>``: then every reading also names
its ``"metric"``. A reading may repeat ``uscc``, ``equipment_id`` or ``metric`` but must then agree with
its topic. Anything else is a dead letter with one of DEAD_LETTER_REASONS; it is never dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from warehouse.contracts import TELEMETRY_QUALITY_FIELD as QUALITY_FIELD

QUALITIES = ("good", "uncertain", "bad")

DEAD_LETTER_REASONS = {
    "undecodable": "payload is not UTF-8 JSON",
    "unknown_topic": "topic is outside the namespace <prefix>/<uscc>/<site>/<area>/<line>/<equipment>[/<metric>]",
    "payload_mismatch": "payload is not a reading or batch of readings for its topic",
}
LEVELS = ("uscc", "site", "area", "line", "equipment_id", "metric")


class DeadLetter(Exception):
    """A message the collector cannot land as readings; `reason` is a key of DEAD_LETTER_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Address:
    """Where a topic points: an equipment, and the metric unless the topic is a machine-level batch."""

    uscc: str
    site: str
    area: str
    line: str
    equipment_id: str
    metric: str | None


def topic_for(
    prefix: str, uscc: str, site: str, area: str, line: str, equipment_id: str, metric: str | None
) -> str:
    parts = [prefix, uscc, site, area, line, equipment_id] + ([metric] if metric else [])
    return "/".join(parts)


def parse_topic(topic: str, prefix: str) -> Address:
    """The address of a topic in the namespace, or DeadLetter('unknown_topic')."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        raise DeadLetter("unknown_topic", f"{topic!r} is not under {prefix!r}")
    parts = topic[len(head) :].split("/")
    if len(parts) not in (5, 6) or any(not p.strip() for p in parts):
        raise DeadLetter("unknown_topic", f"{topic!r}: expected 5 or 6 non-empty levels after the prefix")
    return Address(*parts[:5], parts[5] if len(parts) == 6 else None)


def decode_payload(address: Address, payload: bytes) -> list[dict[str, str | None]]:
    """Readings of one message as landing records (values as text), or DeadLetter with the reason."""
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DeadLetter("undecodable", str(exc)[:200]) from exc
    if isinstance(body, dict) and "readings" in body:
        body = body["readings"]
    items = body if isinstance(body, list) else [body]
    if not items:
        raise DeadLetter("payload_mismatch", "empty batch")
    return [_record(address, item, i) for i, item in enumerate(items)]


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _record(address: Address, item: object, i: int) -> dict[str, str | None]:
    where = f"reading {i}"
    if not isinstance(item, dict):
        raise DeadLetter("payload_mismatch", f"{where} is {type(item).__name__}, not an object")
    missing = [k for k in ("ts", "value") if k not in item]
    if missing:
        raise DeadLetter("payload_mismatch", f"{where} lacks {missing}")
    metric = address.metric or item.get("metric")
    if not metric:
        raise DeadLetter("payload_mismatch", f"{where} names no metric on a machine-level topic")
    topic_says = {"uscc": address.uscc, "equipment_id": address.equipment_id, "metric": metric}
    for key, expected in topic_says.items():
        if key in item and str(item[key]) != expected:
            raise DeadLetter(
                "payload_mismatch", f"{where}: {key}={item[key]!r} but the topic says {expected!r}"
            )
    quality = item.get(QUALITY_FIELD)
    if quality is not None and quality not in QUALITIES:
        raise DeadLetter("payload_mismatch", f"{where}: quality {quality!r} not one of {QUALITIES}")
    return {
        "uscc": address.uscc,
        "equipment_id": address.equipment_id,
        "metric": str(metric),
        "ts": _text(item["ts"]),
        "value": _text(item["value"]),
        "unit": _text(item.get("unit")),
        QUALITY_FIELD: quality,
    }


def opcua_quality(status_code: int) -> str:
    """OPC UA StatusCode severity (the top two bits, Part 4 7.39) -> good / uncertain / bad."""
    severity = (status_code >> 30) & 0b11
    return {0: "good", 1: "uncertain"}.get(severity, "bad")
