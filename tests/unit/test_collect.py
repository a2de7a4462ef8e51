"""Live-collection contract and micro-batch writer (warehouse/uns.py, collectors/): plain functions, no broker."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from asyncua import ua

from assets.telemetry.landing import read_landing_file
from bench.collector import rss_summary
from collectors.batch import Batch, LandingWriter, Status, dead_letter_entry
from collectors.mqtt import MqttCollector, _sent_at, subscription
from collectors.opcua import Cursor, OpcUaCollector
from collectors.opcua import reading as opcua_reading
from warehouse.settings import load_collector_settings
from warehouse.uns import DeadLetter, decode_payload, opcua_quality, parse_topic, topic_for

PREFIX = "shandong"
TOPIC = topic_for(PREFIX, "91370102MA3C", "ST1", "ST1-A1", "ST1-A1-L1", "EQ100001", "power")


def test_topic_roundtrips_through_the_isa95_namespace():
    a = parse_topic(TOPIC, PREFIX)
    assert (a.uscc, a.site, a.area, a.line, a.equipment_id, a.metric) == (
        "91370102MA3C",
        "ST1",
        "ST1-A1",
        "ST1-A1-L1",
        "EQ100001",
        "power",
    )
    assert parse_topic(TOPIC.rsplit("/", 1)[0], PREFIX).metric is None  # machine-level batch topic


@pytest.mark.parametrize(
    "topic",
    [
        "other/91370102MA3C/ST1/A/L/EQ1/power",
        f"{PREFIX}/a/b/c",
        f"{PREFIX}/a/b/c/d/e/f/g",
        f"{PREFIX}/a//c/d/e/f",
    ],
)
def test_topics_outside_the_namespace_are_dead_letters(topic):
    with pytest.raises(DeadLetter) as err:
        parse_topic(topic, PREFIX)
    assert err.value.reason == "unknown_topic"


def test_single_reading_and_batches_decode_to_landing_records():
    a = parse_topic(TOPIC, PREFIX)
    one = decode_payload(a, b'{"ts": "2026-11-01T00:15:00+08:00", "value": 12.5, "unit": "kW"}')
    assert one == [
        {
            "uscc": "91370102MA3C",
            "equipment_id": "EQ100001",
            "metric": "power",
            "ts": "2026-11-01T00:15:00+08:00",
            "value": "12.5",
            "unit": "kW",
            "quality": None,
        }
    ]
    items = [{"ts": f"t{i}", "value": i, "unit": "kW"} for i in range(3)]
    assert len(decode_payload(a, json.dumps(items).encode())) == 3
    assert len(decode_payload(a, json.dumps({"readings": items, "sent_at": 1.0}).encode())) == 3
    machine = parse_topic(TOPIC.rsplit("/", 1)[0], PREFIX)
    rows = decode_payload(
        machine, json.dumps([{"metric": "energy", "ts": "t", "value": 1, "unit": "kWh"}]).encode()
    )
    assert rows[0]["metric"] == "energy"


def test_bad_values_are_landed_as_text_for_the_silver_rules_to_judge():
    a = parse_topic(TOPIC, PREFIX)
    rows = decode_payload(a, b'[{"ts": "x", "value": "ERR", "unit": "furlong"}, {"ts": "y", "value": null}]')
    assert [(r["value"], r["unit"]) for r in rows] == [("ERR", "furlong"), (None, None)]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe{not json", "undecodable"),
        (b"{half", "undecodable"),
        (b"[]", "payload_mismatch"),
        (b"42", "payload_mismatch"),
        (b'{"value": 1}', "payload_mismatch"),
        (b'{"ts": "t", "value": 1, "equipment_id": "EQ999"}', "payload_mismatch"),
        (b'{"ts": "t", "value": 1, "metric": "energy"}', "payload_mismatch"),
        (b'{"ts": "t", "value": 1, "quality": "great"}', "payload_mismatch"),
    ],
)
def test_messages_that_are_not_readings_for_their_topic_are_dead_letters(payload, reason):
    with pytest.raises(DeadLetter) as err:
        decode_payload(parse_topic(TOPIC, PREFIX), payload)
    assert err.value.reason == reason


def test_machine_level_batch_must_name_each_metric():
    machine = parse_topic(TOPIC.rsplit("/", 1)[0], PREFIX)
    with pytest.raises(DeadLetter, match="names no metric"):
        decode_payload(machine, b'[{"ts": "t", "value": 1}]')


@pytest.mark.parametrize(
    ("code", "quality"),
    [
        (0, "good"),
        (0x40000000, "uncertain"),
        (0x40920000, "uncertain"),
        (0x80000000, "bad"),
        (0x808C0000, "bad"),
    ],
)
def test_opcua_status_severity_maps_to_quality(code, quality):
    assert opcua_quality(code) == quality


def test_dead_letter_keeps_the_message_even_when_it_is_not_text():
    e = dead_letter_entry("mqtt", "t", b"\xff\x00", "undecodable", "bad")
    assert (e["payload"], e["payload_encoding"], e["reason"]) == ("/wA=", "base64", "undecodable")


def _batch(n: int) -> Batch:
    b = Batch()
    a = parse_topic(TOPIC, PREFIX)
    for i in range(n):
        b.add(
            decode_payload(
                a, json.dumps({"ts": f"2026-11-01T00:{i:02d}:00Z", "value": i, "unit": "kW"}).encode()
            ),
            ack=(1, i, 1),
        )
    return b


def test_a_flushed_batch_is_a_landing_file_the_pipeline_reads(tmp_path: Path):
    writer = LandingWriter(tmp_path / "landing", "mqtt", "c1")
    batch = _batch(5)
    batch.add_dead(dead_letter_entry("mqtt", "x/y", b"{", "undecodable", "eof"), ack=(1, 99, 1))
    parquet, dead = writer.flush(batch)
    assert parquet.suffix == ".parquet" and "telemetry/collector/mqtt" in parquet.as_posix()
    landed = read_landing_file(parquet, parquet.name)
    assert landed.rows.height == 5
    assert landed.rows["value"].to_list() == ["0", "1", "2", "3", "4"]
    assert json.loads(dead.read_text("utf-8").splitlines()[0])["reason"] == "undecodable"
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_temp_file_left_by_a_crash_is_removed_and_never_landed(tmp_path: Path):
    folder = tmp_path / "landing" / "telemetry" / "collector" / "mqtt" / "2026-11-01"
    folder.mkdir(parents=True)
    stale = folder / ".c1-20261101T000000-1-1.parquet.tmp"
    stale.write_bytes(b"half a parquet")
    LandingWriter(tmp_path / "landing", "mqtt", "c1")
    assert not stale.exists()


def test_status_counts_restarts_across_processes(tmp_path: Path):
    first = Status.resume(tmp_path / "c1.json")
    first.record_flush(_batch(3), durable_at=0.0)
    first.save()
    second = Status.resume(tmp_path / "c1.json")
    assert second.totals["restarts"] == 1 and second.totals["readings"] == 3


def test_sent_at_is_read_from_the_payload_for_latency():
    assert _sent_at(b'{"readings": [], "sent_at": 1764450000.25}') == 1764450000.25
    assert _sent_at(b'{"ts": "t", "value": 1}') is None


class _RecordingClient:
    def __init__(self) -> None:
        self.acks: list[tuple[int, int]] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acks.append((mid, qos))


def test_only_messages_of_the_current_connection_are_acked_after_the_flush(tmp_path: Path):
    """Packet ids restart with a connection: acking an old id on a new one could ack an undurable message."""
    cfg = replace(load_collector_settings({}), client_id="unit")
    collector = MqttCollector(cfg, tmp_path / "landing", tmp_path / "status", log=lambda _: None)
    collector.client = _RecordingClient()  # type: ignore[assignment]
    collector.generation = 2
    a = parse_topic(TOPIC, PREFIX)
    record = decode_payload(a, b'{"ts": "t", "value": 1, "unit": "kW"}')
    collector.batch.add(record, ack=(1, 7, 1))  # came in before a reconnect: will be redelivered
    collector.batch.add(record, ack=(2, 8, 1))
    assert collector.flush() == 2
    assert collector.client.acks == [(8, 1)]
    files = list((tmp_path / "landing").rglob("*.parquet"))
    assert len(files) == 1 and pq.read_table(files[0]).num_rows == 2


def test_shared_subscription_topic_from_settings():
    cfg = load_collector_settings({"LAKEHOUSE_MQTT_SHARE_GROUP": "g1", "LAKEHOUSE_MQTT_TOPIC_PREFIX": "sd"})
    assert subscription(cfg) == "$share/g1/sd/#"
    assert subscription(replace(cfg, share_group=None)) == "sd/#"


def test_collector_settings_never_show_the_password():
    cfg = load_collector_settings({"LAKEHOUSE_MQTT_PASSWORD": "s3cret", "LAKEHOUSE_MQTT_USERNAME": "u"})
    assert "s3cret" not in repr(cfg) and cfg.mqtt_password == "s3cret"


def test_source_quality_flags_readings_the_silver_rules_find_good():
    """An OPC UA Bad/Uncertain status travels in the landing column `quality` to silver's quality_flag."""
    import datetime as dt

    from assets.telemetry.transform import clean_telemetry
    from tests.unit.helpers import bronze, equipment

    rows = [
        {"ts": f"2026-11-02T08:{m:02d}:00+08:00", "value": str(10 + m), "quality": q}
        for m, q in [(0, None), (15, "good"), (30, "uncertain"), (45, "bad")]
    ]
    r = clean_telemetry(bronze(rows), equipment(), day=dt.date(2026, 11, 2), run_id="r")
    assert r.clean["quality_flag"].to_list() == ["good", "good", "uncertain", "bad"]
    assert r.clean["quality_reason"].to_list() == [None, None, "source_uncertain", "source_bad"]
    out_of_range = clean_telemetry(
        bronze([{"value": "999999", "quality": "uncertain"}]),
        equipment(),
        day=dt.date(2026, 11, 2),
        run_id="r",
    )
    assert out_of_range.clean["quality_reason"].to_list() == ["out_of_range"]  # our own rule speaks first


def test_simulated_stream_ground_truth_adds_up_and_agrees_with_the_contract():
    import datetime as dt
    from collections import Counter

    from simulator.mqtt import plan_stream, province

    st = plan_stream(
        province(3, 1),
        readings=3000,
        start=dt.date(2026, 11, 1),
        seed=1,
        prefix="p",
        batch=3,
        defect_rate=0.05,
    )
    exp = st.manifest["expected"]
    assert sum(m.readings for m in st.messages) == exp["landed"] == 3000 + exp["duplicates"]
    assert exp["clean"] + sum(exp["quarantined"].values()) == 3000
    assert st.truth.num_rows == exp["clean"]
    dead, readings = Counter(), 0
    for m in st.messages:
        try:
            readings += len(decode_payload(parse_topic(m.topic, "p"), m.payload))
        except DeadLetter as bad:
            dead[bad.reason] += 1
    assert dict(dead) == exp["dead_letter"] and readings == exp["landed"]


def test_the_landing_sensor_requests_an_ingest_for_each_micro_batch_never_for_a_temp_file(
    tmp_path, monkeypatch
):
    """Today's figures start here: a durable micro-batch in landing/telemetry/collector is a change the
    landing sensor acts on; a batch still being written (hidden temp file) is not."""
    import dagster as dg

    from warehouse.settings import settings

    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    settings.cache_clear()
    try:
        from orchestration.jobs import landing_sensor

        def tick(cursor: str | None):
            ctx = dg.build_sensor_context(instance=instance, cursor=cursor)
            return landing_sensor(ctx), ctx.cursor

        writer = LandingWriter(settings().landing, "mqtt", "c1")
        with dg.instance_for_test() as instance:
            result, cursor = tick(None)
            assert isinstance(result, dg.SkipReason)
            folder = settings().landing / "telemetry" / "collector" / "mqtt" / "2026-11-01"
            folder.mkdir(parents=True)
            (folder / ".c1-20261101T000000-1-1.parquet.tmp").write_bytes(b"half a parquet")
            assert isinstance(tick(cursor)[0], dg.SkipReason)
            writer.flush(_batch(3))
            result, cursor = tick(cursor)
            assert isinstance(result, dg.RunRequest) and result.job_name in (None, "ingest_job")
            assert isinstance(tick(cursor)[0], dg.SkipReason)  # nothing new since
            writer.flush(_batch(2))
            assert isinstance(tick(cursor)[0], dg.RunRequest)
    finally:
        settings.cache_clear()


def test_a_batch_is_due_after_m_readings_or_n_seconds_from_settings(tmp_path: Path):
    env = {"LAKEHOUSE_COLLECT_FLUSH_READINGS": "3", "LAKEHOUSE_COLLECT_FLUSH_SECONDS": "3600"}
    cfg = replace(load_collector_settings(env), client_id="unit")
    assert (cfg.flush_readings, cfg.flush_seconds) == (3, 3600.0)
    collector = MqttCollector(cfg, tmp_path / "landing", tmp_path / "status", log=lambda _: None)
    assert not collector.due()  # nothing to flush
    collector.batch = _batch(2)
    assert not collector.due()
    collector.batch = _batch(3)
    assert collector.due()  # M readings
    timed = MqttCollector(
        replace(cfg, flush_seconds=0.2), tmp_path / "l2", tmp_path / "s2", log=lambda _: None
    )
    timed.batch = _batch(1)
    assert not timed.due()
    time.sleep(0.3)
    assert timed.due()  # N seconds after its first reading


def _dv(ts: dt.datetime, value: float | None, code: int = 0) -> ua.DataValue:
    variant = ua.Variant(value, ua.VariantType.Double) if value is not None else ua.Variant()
    return ua.DataValue(Value=variant, StatusCode=ua.StatusCode(code), SourceTimestamp=ts)


def test_opcua_history_and_held_notifications_land_once_and_the_cursor_follows_durable_files(
    tmp_path: Path,
):
    """The reconnect's overlap: notifications held during the history read that history already gave are
    dropped, newer ones land; the cursor moves only at a flush and survives the process."""
    status_dir = tmp_path / "collectors" / "status"
    c = OpcUaCollector(
        "opc.tcp://x", load_collector_settings({}), tmp_path / "landing", status_dir, writer_id="w"
    )
    node = ua.NodeId(1, 2)
    c.addresses[node] = ("91370102MA3C", "EQ1", "power", "kW")
    t0 = dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    ts = [t0 + dt.timedelta(seconds=i) for i in range(4)]
    c.held = []
    c.receive(node, _dv(ts[2], 2.0))  # arrives while history is read, and history has it too
    c.receive(node, _dv(ts[3], 3.0))  # newer than the history read: only the subscription has it
    key = "91370102MA3C/EQ1/power"
    for t, v in zip(ts[:3], (0.0, 1.0, 2.0), strict=True):  # what backfill lands from history
        c._add(key, t, opcua_reading(c.addresses[node], _dv(t, v))[2])
        c.floor[key] = t
    c.release_held()
    c.receive(node, _dv(ts[1], 1.0))  # an old value again (a late initial notification): not twice
    assert c.batch.columns["ts"] == [t.isoformat() for t in ts]
    assert not (status_dir.parent / "cursors" / "w.json").exists()  # nothing durable yet
    c.flush()
    landed = pq.read_table(next((tmp_path / "landing").rglob("*.parquet"))).to_pylist()
    assert [r["value"] for r in landed] == ["0.0", "1.0", "2.0", "3.0"]
    assert Cursor(status_dir.parent / "cursors" / "w.json").at == {key: ts[3]}
    c.receive(node, _dv(ts[3] + dt.timedelta(seconds=1), None, ua.StatusCodes.BadSensorFailure))
    assert c.batch.columns["quality"] == ["bad"] and c.batch.columns["value"] == [None]


def test_collector_soak_rss_is_flat_only_without_growth_after_warm_up():
    warm = [(t, 100.0 + min(t, 60) / 2) for t in range(0, 600, 5)]  # grows in the first minute, then flat
    assert rss_summary(warm)["flat"] and abs(rss_summary(warm)["slope_mb_per_min"]) < 0.01
    step = [(t, 100.0 + (2 if t > 300 else 0)) for t in range(0, 600, 5)]  # one allocator step of 2 MB
    assert rss_summary(step)["flat"]
    leak = [(t, 100.0 + t / 60) for t in range(0, 600, 5)]  # 1 MB a minute
    assert not rss_summary(leak)["flat"] and rss_summary(leak)["slope_mb_per_min"] == pytest.approx(1.0)
