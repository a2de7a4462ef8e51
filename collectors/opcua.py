"""OPC UA collector: data-change subscriptions on every equipment variable, through the shared batch writer.

Address-space convention (what the collector browses, and `lakehouse simulate opcua` serves):
Objects / <uscc> / <equipment_id> / <metric>, each metric a variable with a `Unit` property. A reading
takes the variable's *source* timestamp (the device's clock, not the server's) and its StatusCode's
severity as quality (good / uncertain / bad, warehouse.uns.opcua_quality), landed in the optional
`quality` column. When the connection drops (server restart, network), the collector reconnects with
exponential backoff (1 s doubling to 30 s), browses again and re-creates its subscription; what it held
is flushed first. OPC UA has no acknowledgement to defer, so a reading is at risk only between its
notification and the next flush (at most LAKEHOUSE_COLLECT_FLUSH_SECONDS).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path

from asyncua import Client, Node, ua

from collectors.batch import Batch, LandingWriter, Status
from collectors.mqtt import status_line
from warehouse.settings import CollectorSettings
from warehouse.uns import opcua_quality

MAX_BACKOFF_S = 30.0


class _Handler:
    """asyncua calls this for every data change; it only appends to the pending batch."""

    def __init__(self, collector: OpcUaCollector) -> None:
        self.c = collector

    def datachange_notification(self, node: Node, val, data) -> None:
        where = self.c.addresses.get(node.nodeid)
        if where is None:
            return
        uscc, equipment_id, metric, unit = where
        dv: ua.DataValue = data.monitored_item.Value
        ts = dv.SourceTimestamp or dv.ServerTimestamp or dt.datetime.now(dt.UTC)
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=dt.UTC)
        code = dv.StatusCode.value if dv.StatusCode is not None else 0
        record = {
            "uscc": uscc,
            "equipment_id": equipment_id,
            "metric": metric,
            "ts": ts.isoformat(),
            "value": None if val is None else repr(float(val)) if isinstance(val, int | float) else str(val),
            "unit": unit,
            "quality": opcua_quality(code),
        }
        self.c.batch.add([record])


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
        self.addresses: dict[ua.NodeId, tuple[str, str, str, str]] = {}
        self.connected = False

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

    def flush(self) -> int:
        batch, self.batch = self.batch, Batch()
        if not batch.messages:
            return 0
        self.writer.flush(batch)
        self.status.record_flush(batch, time.time())
        self.status.save()
        return batch.readings

    def due(self) -> bool:
        return self.batch.due(self.cfg.flush_readings, self.cfg.flush_seconds)

    async def _session(self, stop: threading.Event, status_every: float) -> None:
        async with Client(self.endpoint, timeout=5) as client:
            nodes = await self.browse(client)
            if not nodes:
                raise ConnectionError(
                    f"{self.endpoint}: no equipment variables under Objects/<uscc>/<equipment>"
                )
            sub = await client.create_subscription(200, _Handler(self))
            await sub.subscribe_data_change(
                nodes, queuesize=100, sampling_interval=self.cfg.opcua_sampling_ms
            )
            self.connected = True
            self.status.totals["connects"] += 1
            self.status.extra["variables"] = len(nodes)
            self.log(f"connected to {self.endpoint}, subscribed to {len(nodes)} variables")
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
            backoff = min(backoff * 2, MAX_BACKOFF_S)
        self.flush()
        self.status.save()
        self.log(status_line(self.status.snapshot(), False) + " (stopped)")
