"""OPC UA collector: data-change subscriptions on every equipment variable, through the shared batch writer.

Address-space convention (what the collector browses, and `lakehouse simulate opcua` serves):
Objects / <uscc> / <equipment_id> / <metric>, each metric a variable with a `Unit` property. A reading
takes the variable's *source* timestamp (the device's clock, not the server's) and its StatusCode's
severity as quality (good / uncertain / bad, warehouse.uns.opcua_quality), landed in the optional
`quality` column. When the connection drops (server restart, network), the collector flushes what it
holds, reconnects with exponential backoff (1 s doubling to LAKEHOUSE_OPCUA_MAX_BACKOFF_S), browses again and re-creates its
subscription.

Nothing is lost across a reconnect: every flush records, per variable, the newest source timestamp now in
a durable landing file (the cursor, collectors/cursors/<writer_id>.json, written durably after the data).
Each session subscribes first, then reads the server's history (HistoryRead, raw) of every variable from
its cursor on (a variable without one: LAKEHOUSE_OPCUA_BACKFILL_HOURS back) and lands it; notifications
arriving meanwhile are held and then landed unless the history already gave them (same variable and
source timestamp). So the values served while the collector was away (and the last ones a stopped server
never published) land once. A server without history for a variable is logged and counted
(`history_unavailable`); its gap is then lost as before. A kill -9 between a flush and its cursor write
re-lands that batch: silver's dedupe on (equipment, metric, ts) drops and counts it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from asyncua import Client, Node, ua

from collectors.batch import Batch, LandingWriter, Status, durable_write
from collectors.mqtt import status_line
from warehouse.settings import CollectorSettings
from warehouse.uns import opcua_quality

Address = tuple[str, str, str, str | None]  # uscc, equipment_id, metric, unit


class _Handler:
    """asyncua calls this for every data change; it only hands the value to the collector."""

    def __init__(self, collector: OpcUaCollector) -> None:
        self.c = collector

    def datachange_notification(self, node: Node, val, data) -> None:
        self.c.receive(node.nodeid, data.monitored_item.Value)


def reading(where: Address, dv: ua.DataValue) -> tuple[str, dt.datetime, dict]:
    """(variable key, source timestamp, landing record) of one value, from a notification or from history."""
    uscc, equipment_id, metric, unit = where
    ts = dv.SourceTimestamp or dv.ServerTimestamp or dt.datetime.now(dt.UTC)
    ts = ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)
    code = dv.StatusCode.value if dv.StatusCode is not None else 0
    val = dv.Value.Value if dv.Value is not None else None
    record = {
        "uscc": uscc,
        "equipment_id": equipment_id,
        "metric": metric,
        "ts": ts.isoformat(),
        "value": None if val is None else repr(float(val)) if isinstance(val, int | float) else str(val),
        "unit": unit,
        "quality": opcua_quality(code),
    }
    return f"{uscc}/{equipment_id}/{metric}", ts, record


class Cursor:
    """Per variable, the newest source timestamp in a durable landing file; saved durably after each flush."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.at: dict[str, dt.datetime] = {}
        if path.exists():
            self.at = {
                k: dt.datetime.fromisoformat(v) for k, v in json.loads(path.read_text("utf-8")).items()
            }

    def advance(self, newest: dict[str, dt.datetime]) -> None:
        for key, ts in newest.items():
            if key not in self.at or ts > self.at[key]:
                self.at[key] = ts
        text = json.dumps({k: v.isoformat() for k, v in sorted(self.at.items())}, indent=0)
        durable_write(self.path, lambda fh: fh.write(text.encode("utf-8")))


class OpcUaCollector:
    source = "opcua"

    def __init__(
        self,
        endpoint: str,
        cfg: CollectorSettings,
        landing: Path,
        status_dir: Path,
        *,
        writer_id: str,
        log: Callable[[str], None] = print,
    ) -> None:
        self.endpoint = endpoint
        self.cfg = cfg
        self.log = log
        self.writer = LandingWriter(landing, self.source, writer_id)
        self.status = Status.resume(status_dir / f"{writer_id}.json")
        self.batch = Batch()
        self.addresses: dict[ua.NodeId, Address] = {}
        self.connected = False
        self.cursor = Cursor(status_dir.parent / "cursors" / f"{writer_id}.json")
        self.newest: dict[str, dt.datetime] = {}  # per variable, in the batch not yet flushed
        self.floor: dict[str, dt.datetime] = {}  # per variable, this session: older values are landed already
        self.held: list[tuple[str, dt.datetime, dict]] | None = None  # notifications during the history read

    async def browse(self, client: Client) -> list[Node]:
        """Objects / <uscc> / <equipment_id> / <metric> variables and their units."""
        self.addresses.clear()
        for enterprise in await client.nodes.objects.get_children():
            if enterprise.nodeid.NamespaceIndex == 0:
                continue  # the Server object and other standard nodes
            uscc = (await enterprise.read_browse_name()).Name
            for equipment in await enterprise.get_children():
                equipment_id = (await equipment.read_browse_name()).Name
                for var in await equipment.get_children(nodeclassmask=ua.NodeClass.Variable):
                    metric = (await var.read_browse_name()).Name
                    unit = None
                    for prop in await var.get_properties():
                        if (await prop.read_browse_name()).Name == "Unit":
                            unit = str(await prop.read_value())
                    self.addresses[var.nodeid] = (uscc, equipment_id, metric, unit)
        return [client.get_node(n) for n in self.addresses]

    def receive(self, nodeid: ua.NodeId, dv: ua.DataValue) -> None:
        where = self.addresses.get(nodeid)
        if where is None:
            return
        key, ts, record = reading(where, dv)
        if self.held is not None:
            self.held.append((key, ts, record))
        elif key not in self.floor or ts > self.floor[key]:
            self._add(key, ts, record)

    def _add(self, key: str, ts: dt.datetime, record: dict) -> None:
        self.batch.add([record])
        if key not in self.newest or ts > self.newest[key]:
            self.newest[key] = ts

    def flush(self) -> int:
        batch, self.batch = self.batch, Batch()
        newest, self.newest = self.newest, {}
        if not batch.messages:
            return 0
        self.writer.flush(batch)
        self.cursor.advance(newest)  # only once the readings are durable: the cursor never runs ahead
        self.status.record_flush(batch, time.time())
        self.status.save()
        return batch.readings

    async def backfill(self, nodes: list[Node]) -> int:
        """Land each variable's history since its cursor; raise the session's floor to what was read."""
        since_default = dt.datetime.now(dt.UTC) - dt.timedelta(hours=self.cfg.opcua_backfill_hours)
        self.floor = dict(self.cursor.at)
        landed = unavailable = 0
        for node in nodes:
            where = self.addresses[node.nodeid]
            key = "/".join(where[:3])
            since = self.floor.get(key, since_default)
            try:  # a second early: the server compares times as text; exactness is ours (ts > since)
                values = await node.read_raw_history(since - dt.timedelta(seconds=1), None)
            except ua.UaStatusCodeError as exc:
                unavailable += 1
                if unavailable == 1:
                    self.log(f"no history for {key} ({exc}): what it served while we were away is lost")
                continue
            for dv in values:
                key, ts, record = reading(where, dv)
                if ts > self.floor.get(key, since):
                    self._add(key, ts, record)
                    self.floor[key] = ts
                    landed += 1
            self.floor.setdefault(key, since)
            if self.due():
                self.flush()
        self.status.totals["history_readings"] += landed
        self.status.totals["history_unavailable"] += unavailable
        return landed

    def release_held(self) -> None:
        """Notifications that came during the history read, less those the history already gave."""
        held, self.held = self.held or [], None
        for key, ts, record in held:
            if key not in self.floor or ts > self.floor[key]:
                self._add(key, ts, record)
                self.floor[key] = ts

    def due(self) -> bool:
        return self.batch.due(self.cfg.flush_readings, self.cfg.flush_seconds)

    async def _session(self, stop: threading.Event, status_every: float) -> None:
        async with Client(self.endpoint, timeout=5) as client:
            nodes = await self.browse(client)
            if not nodes:
                raise ConnectionError(
                    f"{self.endpoint}: no equipment variables under Objects/<uscc>/<equipment>"
                )
            # subscribe first, then read history: every value is in one or the other (or both, landed once)
            self.held = []
            try:
                sub = await client.create_subscription(200, _Handler(self))
                await sub.subscribe_data_change(
                    nodes, queuesize=100, sampling_interval=self.cfg.opcua_sampling_ms
                )
                from_history = await self.backfill(nodes)
            finally:
                self.release_held()
            self.connected = True
            self.status.totals["connects"] += 1
            self.status.extra["variables"] = len(nodes)
            self.log(
                f"connected to {self.endpoint}, subscribed to {len(nodes)} variables, "
                f"{from_history} readings from history"
            )
            last_line = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.1)
                if self.due():
                    self.flush()
                if time.monotonic() - last_line >= status_every:
                    last_line = time.monotonic()
                    self.log(status_line(self.status.snapshot(), True))
                await client.check_connection()  # raises once the keep-alive or the socket failed

    async def run(self, stop: threading.Event, *, status_every: float = 5.0) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                await self._session(stop, status_every)
            except Exception as exc:  # any failure of the session: flush, back off, reconnect
                self.log(
                    f"connection to {self.endpoint} lost or refused ({type(exc).__name__}: {exc}); retry in {backoff:.0f} s"
                )
            finally:
                if self.connected:
                    backoff = 1.0  # the session was up: start the backoff over
                self.connected = False
                self.flush()
            if stop.is_set():
                break
            self.status.totals["reconnects"] += 1
            deadline = time.monotonic() + backoff
            while time.monotonic() < deadline and not stop.is_set():
                await asyncio.sleep(0.1)
            backoff = min(backoff * 2, self.cfg.opcua_max_backoff_s)
        self.flush()
        self.status.save()
        self.log(status_line(self.status.snapshot(), False) + " (stopped)")
