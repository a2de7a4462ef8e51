"""`lakehouse simulate opcua`: the province's equipment as an OPC UA address space (asyncua server).

Address space (the convention the collector browses): Objects / <uscc> / <equipment_id> / <metric>, each
metric a Double variable with a `Unit` property (canonical unit). Every `interval` seconds each variable
gets a new value with its source timestamp; one write in UNCERTAIN_EVERY carries
Uncertain_LastUsableValue, one in BAD_EVERY Bad_SensorFailure, so the quality mapping is exercised.
Every write is ground truth: on stop the server saves them to simulator/opcua_truth_<port>.parquet and
returns counts for the manifest.

Every variable is historized (OPC UA HistoryRead, asyncua's SQLite history storage) in
simulator/opcua_history_<port>.sqlite, which outlives the process: a collector reconnecting after a restart
reads the values it missed, those the stopped server served last and those the new one served before the
collector was back. A variable's numeric node id is derived from `<uscc>/<equipment_id>/<metric>`
(`variable_id`), so a restarted server finds its history under the same ids (the SQLite storage names a
table after the id and refuses string ids).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from asyncua import Server, ua
from asyncua.server.history_sql import HistorySQLite

from simulator.province import Province
from warehouse.domain import METRICS
from warehouse.uns import opcua_quality

VARIABLES = ("power", "energy", "temperature", "pressure", "current")
UNCERTAIN_EVERY = 17
BAD_EVERY = 23
NAMESPACE = "urn:shandong-lakehouse:simulator"


def _utc_naive(text: bytes) -> dt.datetime:
    """What sqlite3's default converter returns (naive UTC), for every ISO form the history writes."""
    t = dt.datetime.fromisoformat(text.decode())
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo else t


def variable_id(ns: int, uscc: str, equipment_id: str, metric: str) -> ua.NodeId:
    """The same id for the same variable in every run; the top bit keeps clear of asyncua's own numbering."""
    return ua.NodeId(zlib.crc32(f"{uscc}/{equipment_id}/{metric}".encode()) | 0x80000000, ns)


async def serve(
    prov: Province,
    *,
    port: int,
    equipment: int,
    variables: int,
    interval: float,
    stop: threading.Event,
    truth_dir: Path,
    log: Callable[[str], None] = print,
    seed: int = 0,
) -> dict:
    names = [m for m in VARIABLES if m in METRICS][:variables]
    # history keeps every value as long as its file lives (period=None: deleting old rows would scan the
    # table on every write); its timestamps are read back through sqlite3's TIMESTAMP converter, whose
    # default cannot parse a whole-second time with an offset ("...:05+00:00"): an ISO parser instead
    sqlite3.register_converter("TIMESTAMP", _utc_naive)
    server = Server()
    truth_dir.mkdir(parents=True, exist_ok=True)
    server.iserver.history_manager.set_storage(HistorySQLite(str(truth_dir / f"opcua_history_{port}.sqlite")))
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/lakehouse/")
    server.set_server_name("Shandong lakehouse simulated plant")
    idx = await server.register_namespace(NAMESPACE)
    rows = prov.equipment.head(equipment).select("uscc", "equipment_id").rows()
    folders: dict[str, object] = {}
    nodes = []
    for uscc, equipment_id in rows:
        if uscc not in folders:
            folders[uscc] = await server.nodes.objects.add_folder(idx, uscc)
        eq = await folders[uscc].add_object(idx, equipment_id)
        for metric in names:
            var = await eq.add_variable(variable_id(idx, uscc, equipment_id, metric), metric, 0.0)
            await var.add_property(idx, "Unit", METRICS[metric].unit)
            nodes.append((var, equipment_id, metric))
    rng = np.random.default_rng([seed, port])
    truth: dict[str, list] = {"equipment_id": [], "metric": [], "ts_utc": [], "value": [], "quality": []}
    meters = {i: float(rng.uniform(1000, 5000)) for i in range(len(nodes))}
    tick = 0
    async with server:
        log(f"OPC UA server on opc.tcp://127.0.0.1:{port}/lakehouse/ serving {len(nodes)} variables")
        while not stop.is_set():
            now = dt.datetime.now(dt.UTC)
            for i, (var, equipment_id, metric) in enumerate(nodes):
                spec = METRICS[metric]
                if spec.kind == "cumulative":
                    meters[i] += float(rng.uniform(0.5, 5.0))
                    value = round(meters[i], 3)
                else:
                    value = round(float(rng.uniform(spec.low, min(spec.high, spec.low + 400))), 3)
                n = tick * len(nodes) + i
                code = ua.StatusCodes.Good
                if n % BAD_EVERY == BAD_EVERY - 1:
                    code = ua.StatusCodes.BadSensorFailure
                elif n % UNCERTAIN_EVERY == UNCERTAIN_EVERY - 1:
                    code = ua.StatusCodes.UncertainLastUsableValue
                await var.write_value(
                    ua.DataValue(
                        Value=ua.Variant(value, ua.VariantType.Double),
                        StatusCode=ua.StatusCode(code),
                        SourceTimestamp=now,
                        ServerTimestamp=now,
                    )
                )
                for key, v in zip(
                    truth, (equipment_id, metric, now, value, opcua_quality(code)), strict=True
                ):
                    truth[key].append(v)
            if tick == 0:  # from the first written value on, so the placeholder 0.0 is never history
                await server.historize_node_data_change([v for v, _, _ in nodes], period=None)
            tick += 1
            await asyncio.sleep(interval)
    path = truth_dir / f"opcua_truth_{port}_{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.parquet"
    schema = pa.schema(
        [
            ("equipment_id", pa.string()),
            ("metric", pa.string()),
            ("ts_utc", pa.timestamp("us", "UTC")),
            ("value", pa.float64()),
            ("quality", pa.string()),
        ]
    )
    pq.write_table(pa.table(truth, schema=schema), path)
    return {
        "port": port,
        "variables": len(nodes),
        "writes": len(truth["value"]),
        "by_quality": dict(Counter(truth["quality"])),
        "truth_file": path.name,
    }
