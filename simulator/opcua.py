"""`lakehouse simulate opcua`: the province's equipment as an OPC UA address space (asyncua server).

Address space (the convention the collector browses): Objects / <uscc> / <equipment_id> / <metric>, each
metric a Double variable with a `Unit` property (canonical unit). Every `interval` seconds each variable
gets a new value with its source timestamp; one write in UNCERTAIN_EVERY carries
Uncertain_LastUsableValue, one in BAD_EVERY Bad_SensorFailure, so the quality mapping is exercised.
Every write is ground truth: on stop the server saves them to simulator/opcua_truth_<port>.parquet and
returns counts for the manifest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from asyncua import Server, ua

from simulator.province import Province
from warehouse.domain import METRICS
from warehouse.uns import opcua_quality

VARIABLES = ("power", "energy", "temperature", "pressure", "current")
UNCERTAIN_EVERY = 17
BAD_EVERY = 23
NAMESPACE = "urn:shandong-lakehouse:simulator"


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
    server = Server()
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
            var = await eq.add_variable(idx, metric, 0.0)
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
            tick += 1
            await asyncio.sleep(interval)
    truth_dir.mkdir(parents=True, exist_ok=True)
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
