"""The national sync end to end on loopback, the node a real separate process (uvicorn on a free port).

Faults survived: node down at start, connection dropped after the node stored, 5xx and timeouts, a crash
between sending and recording, duplicate delivery, out-of-order arrival, a restated day, a rotated key.
After every scenario the node holds one current version per day, equal to the province's figures.
Signed requests altered in any byte, replayed, expired or from an unknown node are refused.
The source data are small theme tables written straight into a temporary lake (no simulator run).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pytest

from assets.build_record import day_build_row
from assets.sync import ledger
from assets.sync.batch import Batch, make_batch, payload_bytes
from assets.sync.signing import H_BODY, H_IDEMPOTENCY, H_KEY, H_NODE, H_NONCE, H_SIG, H_TS
from assets.sync.sync import Built, SyncOutcome, build, sync_days
from assets.sync.transport import NodeConfig, deliver
from tests.unit.test_sync_release import energy_rows, equipment_rows
from tests.unit.test_sync_wire import signed, signed_get
from warehouse.registry import DAY_BUILD, ENERGY_DAILY, EQUIPMENT_DAILY, QUALITY_RESULTS, SYNC_LEDGER
from warehouse.serving.contents import view_sql
from warehouse.serving.delta import DELTA_EXTENSION
from warehouse.storage import Lake

pytestmark = pytest.mark.e2e

START = dt.date(2026, 10, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(5)]
KEY = "e2e-province-key"

OLD, NEW = "rotated-out-province-key", "rotated-in-province-key"
READER, READER_KEY = "ops", "e2e-national-reader-key"
# Cells of 1-5 enterprises (3712 Laiwu counts for 3701 Jinan): primary and complementary suppression at work.
LAYOUT = {
    ("3701", "26"): 4,
    ("3701", "31"): 1,
    ("3701", "44"): 3,
    ("3702", "26"): 2,
    ("3702", "31"): 5,
    ("3702", "44"): 3,
    ("3703", "26"): 3,
    ("3703", "44"): 1,
    ("3712", "31"): 2,
}


def signed_now(body: bytes, idempotency_key: str, **kw) -> dict:
    """Headers of province 37's POST of `body`, signed now with the e2e key; `kw` changes any argument."""
    return signed(body, **({"secret": KEY, "idempotency_key": idempotency_key, "now": None} | kw))


# ---- the province --------------------------------------------------------------------------------
class Province:
    """A temporary lake holding theme tables, quality results and the ledger, read through DuckDB views over
    delta_scan (in memory: one connection for the module; the warehouse file is the CLI test's business)."""

    def __init__(self, home: Path) -> None:
        self.lake = Lake(home / "lake")
        self.con = duckdb.connect()
        self.con.execute(f"LOAD '{DELTA_EXTENSION}'")
        self.con.execute("CREATE SCHEMA theme")
        self.enterprises = [
            (f"9137{n:04d}{city}{industry}{k:04d}", city, industry)
            for n, ((city, industry), count) in enumerate(LAYOUT.items())
            for k in range(count)
        ]

    def day(self, day: dt.date, revision: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        """A day's theme rows; a revision changes the figures (a restatement)."""
        energy = energy_rows(self.enterprises, day=day, seed=day.toordinal()).with_columns(
            pl.col("electricity_kwh") + 10.0 * revision, pl.col("energy_tce") + 0.01 * revision
        )
        return energy, equipment_rows(energy, seed=day.toordinal())

    def checks(self, days: list[dt.date], failing_rule: str | None = None) -> None:
        rows = [
            {
                "table_name": ENERGY_DAILY.name,
                "partition": day.isoformat(),
                "rule_id": rule,
                "kind": "partition",
                "severity": "error",
                "evaluated": 1,
                "failed": int(rule == failing_rule),
                "pass_rate": 1.0,
                "passed": rule != failing_rule,
                "run_id": "t",
                "checked_at": dt.datetime.now(dt.UTC),
            }
            for day in days
            for rule in ("day_complete", "energy_non_negative")
        ]
        self.lake.upsert(QUALITY_RESULTS, pl.DataFrame(rows, schema=QUALITY_RESULTS.schema), run_id="t")

    def _views(self) -> None:
        for spec in (ENERGY_DAILY, EQUIPMENT_DAILY):
            self.con.execute(view_sql(spec, self.lake))

    def build_day(self, day: dt.date, revision: int = 0, failing_rule: str | None = None) -> None:
        """(Re)build one day's partitions, as the daily job does."""
        energy, equipment = self.day(day, revision)
        self.lake.replace_partition(ENERGY_DAILY, day, energy, run_id=f"build-{day}-{revision}")
        self.lake.replace_partition(EQUIPMENT_DAILY, day, equipment, run_id=f"build-{day}-{revision}")
        self.checks([day], failing_rule)
        self.recorded([day], f"build-{day}-{revision}")
        self._views()

    def recorded(self, days: list[dt.date], run_id: str) -> None:
        """The build record the daily job writes last (the sync releases only figures it vouches for)."""
        now = dt.datetime.now(dt.UTC)
        rows = pl.concat([day_build_row(day, run_id, now, now) for day in days])
        self.lake.upsert(DAY_BUILD, rows, run_id=run_id)

    def build_all(self, days: list[dt.date], revision: int = 0) -> Province:
        """(Re)build many days at once (one commit per table: quicker to set up than day by day); the
        province back, as NodeProcess.start() gives the node back."""
        frames = [self.day(day, revision) for day in days]
        self.lake.overwrite(ENERGY_DAILY, pl.concat([e for e, _ in frames]), run_id=f"all-{revision}")
        self.lake.overwrite(EQUIPMENT_DAILY, pl.concat([q for _, q in frames]), run_id=f"all-{revision}")
        self.checks(days)
        self.recorded(days, f"all-{revision}")
        self._views()
        return self

    def current(self, day: dt.date) -> Built:
        return build(self.con, self.lake, day)

    def sync(self, days: list[dt.date], node: NodeConfig) -> list[SyncOutcome]:
        with httpx.Client() as client:
            return sync_days(days, lake=self.lake, con=self.con, client=client, node=node, run_id="e2e")

    def ledger(self) -> pl.DataFrame:
        return self.lake.read(SYNC_LEDGER).sort("batch_id")


# ---- the node, a separate process ----------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeProcess:
    def __init__(self, home: Path, keys: str, *, faults: bool = False, role: str = "national") -> None:
        self.home, self.keys, self.faults, self.role = home, keys, faults, role
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = home.parent / f"node-{self.port}.log"

    def start(self) -> NodeProcess:
        env = os.environ | {
            "NATIONAL_NODE_KEYS": self.keys,
            "NATIONAL_NODE_READERS": f"{READER}={READER_KEY}",
        }
        env.pop("NATIONAL_NODE_FAULTS", None)
        if self.faults:
            env["NATIONAL_NODE_FAULTS"] = "on"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "national_node",
                "serve",
                "--port",
                str(self.port),
                "--home",
                str(self.home),
                "--log-level",
                "warning",
                "--role",
                self.role,
            ],
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_up(self, timeout: float = 60.0) -> NodeProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"node exited {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"node not up after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def inject(self, faults: str) -> None:
        assert httpx.post(f"{self.url}/_faults", json={"faults": faults}).status_code == 200

    def read(self, target: str, node: str = READER, secret: str = READER_KEY) -> httpx.Response:
        """A signed read (reads need a key): by the national reader unless told otherwise."""
        return signed_get(self.url, target, node=node, secret=secret)

    def batches(self) -> int:
        return self.read("/v1/status").json()["batches"]

    def period(self, day: dt.date) -> dict:
        r = self.read(f"/v1/provinces/37/periods/{day}?include_rows=true")
        assert r.status_code == 200, r.text
        return r.json()


def config(node: NodeProcess, key_id: str = "default", secret: str = KEY, **kw) -> NodeConfig:
    return NodeConfig(
        url=node.url,
        key_id=key_id,
        secret=secret,
        **({"timeout_s": 5.0, "max_attempts": 6, "backoff_initial_s": 0.1, "backoff_max_s": 0.5} | kw),
    )


def assert_node_matches(node: NodeProcess, province: Province, days: list[dt.date]) -> None:
    """Exactly one current version per day: the province's last acknowledged one, with its figures."""
    acked = (
        province.ledger().filter(pl.col("status") == "acknowledged").group_by("period").agg(pl.max("version"))
    )
    for day in days:
        period = node.period(day)
        versions = [v["version"] for v in period["versions"]]
        assert len(versions) == len(set(versions))
        [last_acknowledged] = acked.filter(pl.col("period") == day.isoformat())["version"]
        assert period["current_version"] == max(versions) == last_acknowledged, day
        built = province.current(day)
        assert period["current"]["payload_sha256"] == built.payload_sha256, day
        assert pl.DataFrame(period["current"]["data"]).equals(built.release.frame), day


# ---- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    """Node A (faults switchable) is started by the first test; B and C (one home: a restart with the old key's
    grace over) start now, in the background."""
    root = tmp_path_factory.mktemp("nodes")
    grace_open = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    grace_over = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    a = NodeProcess(root / "a", f"37={KEY}", faults=True)
    b = NodeProcess(root / "rotation", f"37:k2={NEW},37:k1={OLD}@{grace_open}").start()
    c = NodeProcess(root / "rotation", f"37:k2={NEW},37:k1={OLD}@{grace_over}").start()
    yield {"a": a, "b": b, "c": c}
    for n in (a, b, c):
        n.stop()


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    return Province(tmp_path_factory.mktemp("province")).build_all(DAYS)


@pytest.fixture
def node(nodes):
    a = nodes["a"]
    if a.proc is None:
        a.start()
    return a.wait_up()


# ---- scenarios -----------------------------------------------------------------------------------
def test_node_down_at_start_then_up(nodes, province):
    a = nodes["a"]
    outcomes: list[SyncOutcome] = []
    cfg = config(a, max_attempts=60, backoff_initial_s=0.2, backoff_max_s=1.0, timeout_s=2.0)
    worker = threading.Thread(target=lambda: outcomes.extend(province.sync(DAYS[:2], cfg)))
    worker.start()
    deadline = time.monotonic() + 60
    while province.ledger().filter(pl.col("status") == "pending").is_empty() and time.monotonic() < deadline:
        time.sleep(0.1)  # `pending` is written just before the first attempt
    time.sleep(0.5)  # the sync is retrying against a closed port
    a.start().wait_up()
    worker.join(90)
    assert [o.status for o in outcomes] == ["acknowledged", "acknowledged"]
    assert outcomes[0].attempts > 1 and outcomes[1].attempts == 1
    assert_node_matches(a, province, DAYS[:2])


def test_connection_dropped_after_the_node_stored_is_retried_without_a_duplicate(node, province):
    node.inject("drop,drop")
    before = node.batches()
    [outcome] = province.sync([DAYS[2]], config(node))
    assert outcome.status == "acknowledged" and outcome.attempts == 3 and outcome.duplicate
    assert node.batches() == before + 1
    assert [v["version"] for v in node.period(DAYS[2])["versions"]] == [1]
    assert_node_matches(node, province, DAYS[:3])


def test_5xx_and_timeouts_are_retried_with_backoff(node, province):
    node.inject("503,500,delay=3")
    [outcome] = province.sync([DAYS[3]], config(node, timeout_s=1.0))
    assert outcome.status == "acknowledged" and outcome.attempts == 4
    assert [v["version"] for v in node.period(DAYS[3])["versions"]] == [1]
    assert_node_matches(node, province, DAYS[:4])


def test_a_crash_between_sending_and_recording_is_recovered_on_the_next_run(node, province, monkeypatch):
    def crash(*args, **kwargs):
        raise SystemExit("killed after the node stored, before the ledger said so")

    monkeypatch.setattr(ledger, "record_acknowledged", crash)
    with pytest.raises(SystemExit):
        province.sync([DAYS[4]], config(node))
    monkeypatch.undo()
    row = province.ledger().filter(pl.col("period") == DAYS[4].isoformat()).row(0, named=True)
    assert row["status"] == "pending" and row["batch_id"] == f"37-{DAYS[4]}-v1"
    assert node.period(DAYS[4])["current_version"] == 1  # the node has it; the province does not know
    [outcome] = province.sync([DAYS[4]], config(node))
    assert outcome.status == "acknowledged" and outcome.duplicate and outcome.batch_id == row["batch_id"]
    assert [v["version"] for v in node.period(DAYS[4])["versions"]] == [1]
    assert_node_matches(node, province, DAYS)


def test_duplicate_delivery_gets_the_stored_receipt_and_a_second_sync_sends_nothing(node, province):
    before = node.batches()
    acked = province.ledger().filter(pl.col("period") == DAYS[0].isoformat()).row(0, named=True)
    built = province.current(DAYS[0])
    again = make_batch(
        province="37",
        period=DAYS[0].isoformat(),
        version=1,
        payload=built.payload,
        rows=built.release.frame.height,
        cells_suppressed=built.release.cells_suppressed,
        source_versions=built.source_versions,
    )
    with httpx.Client() as client:
        for _ in range(2):
            delivery = deliver(client, config(node), again)
            assert delivery.status == 200 and delivery.receipt["receipt_id"] == acked["node_receipt"]
    assert {o.status for o in province.sync(DAYS, config(node))} == {"unchanged"}
    assert node.batches() == before
    assert_node_matches(node, province, DAYS)


def test_a_restated_day_is_sent_as_the_next_version(node, province):
    province.build_day(DAYS[1], revision=1)
    outcomes = province.sync(DAYS, config(node))
    assert [o.status for o in outcomes] == [
        "unchanged",
        "acknowledged",
        "unchanged",
        "unchanged",
        "unchanged",
    ]
    assert outcomes[1].version == 2 and outcomes[1].restatement and outcomes[1].latency_ms > 0
    assert [v["version"] for v in node.period(DAYS[1])["versions"]] == [1, 2]
    assert_node_matches(node, province, DAYS)


def test_out_of_order_arrival_keeps_the_highest_version_current(node, province):
    day = DAYS[4]

    def batch_of(version: int) -> Batch:
        b = province.current(day)
        return make_batch(
            province="37",
            period=day.isoformat(),
            version=version,
            payload=b.payload,
            rows=b.release.frame.height,
            cells_suppressed=b.release.cells_suppressed,
            source_versions=b.source_versions,
        )

    province.build_day(day, revision=1)
    v2 = batch_of(2)
    province.build_day(day, revision=2)
    v3 = batch_of(3)
    with httpx.Client() as client:
        assert deliver(client, config(node), v3).receipt["current"]
        late = deliver(client, config(node), v2).receipt  # the older version arrives last
    assert not late["current"] and late["latest_version"] == 3
    assert node.period(day)["current_version"] == 3
    # The province never recorded those two: its next sync meets v2 taken at the node and goes above.
    [outcome] = province.sync([day], config(node))
    assert outcome.status == "acknowledged" and outcome.version == 4
    assert_node_matches(node, province, DAYS)


def test_a_rotated_province_key_is_accepted_during_its_grace_period_only(nodes, tmp_path):
    b, c = nodes["b"].wait_up(), nodes["c"].wait_up()
    p = Province(tmp_path)
    days = DAYS[:2]
    p.build_all(days)
    assert {o.status for o in p.sync(days, config(b, "k1", OLD))} == {"acknowledged"}
    p.build_day(days[0], revision=1)
    assert [o.status for o in p.sync(days, config(b, "k2", NEW))] == ["acknowledged", "unchanged"]
    p.build_day(days[1], revision=1)
    [_, old] = p.sync(days, config(c, "k1", OLD))  # after the grace period
    assert old.status == "failed" and "key_expired" in (old.message or "")
    [_, new] = p.sync(days, config(c, "k2", NEW))
    assert new.status == "acknowledged" and new.version == 2
    assert_node_matches(c, p, days)


def test_altered_replayed_expired_and_unknown_requests_are_refused(node, province):
    frame = province.current(DAYS[0]).release.frame.with_columns(pl.lit("2026-10-20").alias("day"))
    payload = payload_bytes(frame)
    probe = make_batch(
        province="37",
        period="2026-10-20",
        version=1,
        payload=payload,
        rows=frame.height,
        cells_suppressed=int(frame["suppressed"].sum() + frame["trading_suppressed"].sum()),
        source_versions={},
    )
    body = probe.body()

    def sign(**kw) -> dict:
        return signed_now(body, probe.batch_id, **kw)

    def post(headers: dict, content: bytes = body) -> httpx.Response:
        return client.post(f"{node.url}/v1/batches", content=content, headers=headers)

    before = node.batches()
    with httpx.Client() as client:
        refused = []
        for name in (H_NODE, H_KEY, H_TS, H_NONCE, H_BODY, H_SIG, H_IDEMPOTENCY):
            signed = sign()
            value = signed[name]
            for i in range(len(value)):
                altered = value[:i] + ("1" if value[i] != "1" else "2") + value[i + 1 :]
                refused.append(post(signed | {name: altered}).status_code)
        for i in sorted({0, len(body) - 1, *range(0, len(body), max(1, len(body) // 150))}):
            refused.append(post(sign(), body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]).status_code)
        assert refused and all(400 <= s < 500 for s in refused)
        assert node.batches() == before
        now = time.time()
        cases = {
            "expired": (sign(now=now - 400), 401, "clock_skew"),
            "from the future": (sign(now=now + 400), 401, "clock_skew"),
            "unknown province": (sign(node="99"), 401, "unauthenticated"),
            "unregistered province": (sign(node="44"), 401, "unauthenticated"),
            "unknown key id": (sign(key_id="k9"), 401, "unauthenticated"),
            "wrong secret": (sign(secret="guess"), 401, "unauthenticated"),
            "unsigned": ({}, 400, "missing_header"),
        }
        answers = {}
        for what, (headers, status, code) in cases.items():
            r = post(headers)
            assert (r.status_code, r.json()["error"]) == (status, code), what
            answers[what] = r.content
        # from outside, an unknown node, an unknown key and a wrong secret are one and the same answer
        assert (
            len(
                {
                    answers[w]
                    for w in ("unknown province", "unregistered province", "unknown key id", "wrong secret")
                }
            )
            == 1
        )
        valid = sign()
        assert post(valid).status_code == 201
        replay = post(valid)
        assert (replay.status_code, replay.json()["error"]) == (409, "replayed_nonce")
    assert node.batches() == before + 1
    assert_node_matches(node, province, DAYS)
