"""Alerts end to end into real loopback receivers: an HTTP group robot and an aiosmtpd SMTP server."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from assets.alerts.incidents import TABLE_KINDS, failed_runs, lake_incidents, sync_problems
from assets.alerts.notify import run_alerts
from warehouse.registry import (
    ALERT,
    ENTERPRISE,
    FEED_STATUS,
    LANDING_FILES,
    QUALITY_RESULTS,
    SYNC_LEDGER,
    TableSpec,
)
from warehouse.settings import load_alert_settings
from warehouse.storage import Lake

NOW = dt.datetime(2026, 11, 8, 2, 0, tzinfo=dt.UTC)
SECRET = "SECdingtalk-robot-secret-0123456789"
PASSWORD = "smtp-pa55word-never-shown"
TOKEN = "access-token-abcdef987654"
PHONE = "13912345678"
PERSON = "张伟明"


class _Robot(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, raw))  # type: ignore[attr-defined]
        reply = b'{"errcode":0,"errmsg":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == PASSWORD.encode())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def robot():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Robot)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def mailbox():
    box = _Mailbox()
    controller = Controller(
        box, hostname="127.0.0.1", port=_free_port(), authenticator=box.authenticate, auth_require_tls=False
    )
    controller.start()
    box.port = controller.port  # type: ignore[attr-defined]
    yield box
    controller.stop()


def _settings(robot, mailbox, **extra):
    env = {
        "LAKEHOUSE_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{robot.server_address[1]}/robot/send?access_token={TOKEN}",
        "LAKEHOUSE_ALERT_WEBHOOK_SECRET": SECRET,
        "LAKEHOUSE_ALERT_SMTP_HOST": "127.0.0.1",
        "LAKEHOUSE_ALERT_SMTP_PORT": str(mailbox.port),
        "LAKEHOUSE_ALERT_SMTP_USERNAME": "alerts",
        "LAKEHOUSE_ALERT_SMTP_PASSWORD": PASSWORD,
        "LAKEHOUSE_ALERT_SMTP_TO": "oncall@example.test",
        "LAKEHOUSE_ALERT_SYNC_OVERDUE_HOURS": "6",
    }
    return load_alert_settings(env | extra)


def _frame(spec: TableSpec, rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{c: None for c in spec.schema} | r for r in rows], schema=spec.schema)


def _check(rule: str, passed: bool, severity: str = "error", at: dt.datetime = NOW) -> dict:
    return {
        "table_name": "theme.energy_daily",
        "partition": "2026-11-07",
        "rule_id": rule,
        "kind": "partition",
        "severity": severity,
        "evaluated": 5760,
        "failed": 0 if passed else 1234,
        "pass_rate": 1.0 if passed else 1 - 1234 / 5760,
        "passed": passed,
        "run_id": "run-1",
        "checked_at": at - dt.timedelta(hours=1),
    }


def _feed(status: str) -> pl.DataFrame:
    row = {"uscc": "91370100MA3C000002", "source": "telemetry", "status": status, "cadence_minutes": 15.0}
    late = {"last_reading_at": NOW - dt.timedelta(hours=2), "lateness_minutes": 105.0}
    return _frame(
        FEED_STATUS, [row | (late if status == "late" else {"last_reading_at": NOW, "lateness_minutes": 0.0})]
    )


def _province(lake: Lake) -> None:
    """One incident of each table kind, a warn-only failure that must not alert, and a golden record with PII."""
    lake.append(
        QUALITY_RESULTS,
        _frame(
            QUALITY_RESULTS,
            [
                _check("day_complete", False),
                _check("row_count_in_band", False, "warn"),
                _check("reconciles", True),
            ],
        ),
        run_id="t",
    )
    landed = {
        "content_hash": "ab" * 32,
        "size_bytes": 10,
        "landing_date": dt.date(2026, 11, 7),
        "ingested_at": NOW - dt.timedelta(hours=3),
    }
    lake.append(
        LANDING_FILES,
        _frame(
            LANDING_FILES,
            [
                landed
                | {
                    "source_file": f"telemetry/gw_{PHONE}.csv.gz",
                    "status": "rejected",
                    "reason": "unsupported_format",
                }
            ],
        ),
        run_id="t",
    )
    lake.overwrite(FEED_STATUS, _feed("late"), run_id="t")
    batch = {"version": 1, "attempts": 5, "rows": 10, "node": "http://127.0.0.1:1", "channel": "national"}
    lake.append(
        SYNC_LEDGER,
        _frame(
            SYNC_LEDGER,
            [
                batch
                | {
                    "batch_id": "b-1105",
                    "period": "2026-11-05",
                    "status": "failed",
                    "message": f"HTTP 401 bad signature with key {SECRET}",
                },
                batch
                | {
                    "batch_id": "b-1106",
                    "period": "2026-11-06",
                    "status": "sent",
                    "sent_at": NOW - dt.timedelta(hours=9),
                },
                batch
                | {
                    "batch_id": "b-1107",
                    "period": "2026-11-07",
                    "status": "sent",
                    "sent_at": NOW - dt.timedelta(hours=1),
                },
            ],
        ),
        run_id="t",
    )
    lake.append(
        ENTERPRISE,
        _frame(ENTERPRISE, [{"uscc": "91370100MA3C000001", "legal_representative": PERSON, "phone": PHONE}]),
        run_id="t",
    )


def _evaluate(lake: Lake, alerts, now: dt.datetime = NOW):
    active = lake_incidents(lake, now=now, sync_overdue=alerts.sync_overdue)
    return run_alerts(lake, alerts, active, scope=TABLE_KINDS, run_id="test", now=now)


def _posts(robot) -> list[dict]:
    return [json.loads(raw) for _, raw in robot.received]


def test_each_table_kind_alerts_once_then_resolves_on_both_channels(tmp_path, robot, mailbox):
    lake, alerts = Lake(tmp_path / "lake"), _settings(robot, mailbox)
    _province(lake)
    report = _evaluate(lake, alerts)
    assert (report.raised, report.resolved) == (5, 0)  # check, rejected file, sync failed and overdue, feed
    titles = sorted(p["markdown"]["title"] for p in _posts(robot))
    assert titles == sorted(
        [
            "Blocking check day_complete failed on theme.energy_daily 2026-11-07",
            "Landing file rejected: telemetry/gw_***.csv.gz",
            "Sync of 2026-11-05 to the national center failed",
            "Sync of 2026-11-06 overdue: sent, not acknowledged",
            "Feed telemetry of 91370100MA3C000002 is late",
        ]
    )
    check = next(p for p in _posts(robot) if "day_complete" in p["markdown"]["title"])
    assert check["msgtype"] == "markdown"
    assert "failed: 1,234 of 5,760 rows" in check["markdown"]["text"]
    assert len(mailbox.messages) == 5 and mailbox.logins == [(b"alerts", PASSWORD.encode())] * 5

    # dedup: the same incidents again send nothing
    assert (_evaluate(lake, alerts, NOW + dt.timedelta(minutes=5)).raised, len(robot.received)) == (0, 5)

    # everything clears: the check passes, the file is re-delivered good, both syncs acknowledged
    later = NOW + dt.timedelta(minutes=10)
    lake.append(
        QUALITY_RESULTS, _frame(QUALITY_RESULTS, [_check("day_complete", True, at=later)]), run_id="t"
    )
    fixed = {
        "content_hash": "cd" * 32,
        "size_bytes": 9,
        "landing_date": dt.date(2026, 11, 7),
        "ingested_at": later,
        "records": 5,
    }
    lake.append(
        LANDING_FILES,
        _frame(
            LANDING_FILES, [fixed | {"source_file": f"telemetry/gw_{PHONE}.csv.gz", "status": "ingested"}]
        ),
        run_id="t",
    )
    lake.upsert(
        SYNC_LEDGER,
        _frame(
            SYNC_LEDGER,
            [
                {
                    "batch_id": b,
                    "period": p,
                    "version": 1,
                    "status": "acknowledged",
                    "node": "http://127.0.0.1:1",
                    "channel": "national",
                }
                for b, p in (("b-1105", "2026-11-05"), ("b-1106", "2026-11-06"))
            ],
        ),
        run_id="t",
    )
    lake.overwrite(FEED_STATUS, _feed("on_time"), run_id="t")
    report = _evaluate(lake, alerts, later)
    assert (report.raised, report.resolved) == (0, 5)
    resolved = [p["markdown"]["title"] for p in _posts(robot)[5:]]
    assert len(resolved) == 5 and all(t.startswith("Resolved: ") for t in resolved)
    assert len(mailbox.messages) == 10

    log = lake.read(ALERT)
    assert log.group_by("event", "channel").len().sort("event", "channel").rows() == [
        ("raised", "email", 5),
        ("raised", "webhook", 5),
        ("resolved", "email", 5),
        ("resolved", "webhook", 5),
    ]
    assert set(log["delivery"]) == {"sent"}
    # and once resolved, a recurrence is a new alert
    assert _evaluate(lake, alerts, later + dt.timedelta(minutes=1)).raised == 0


def test_webhook_is_signed_dingtalk_style_when_a_secret_is_set(tmp_path, robot, mailbox):
    lake, alerts = Lake(tmp_path / "lake"), _settings(robot, mailbox)
    _province(lake)
    _evaluate(lake, alerts)
    path, _ = robot.received[0]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    assert query["access_token"] == [TOKEN]
    ts = query["timestamp"][0]
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
    )
    assert query["sign"] == [expected.decode()]  # parse_qs undoes the URL encoding
    assert abs(int(ts) / 1000 - dt.datetime.now(dt.UTC).timestamp()) < 60


def test_rate_limit_sends_n_per_window_and_summarizes_the_rest(tmp_path, robot, mailbox):
    lake = Lake(tmp_path / "lake")
    alerts = _settings(
        robot, mailbox, LAKEHOUSE_ALERT_RATE_LIMIT="3", LAKEHOUSE_ALERT_RATE_WINDOW_MINUTES="60"
    )
    rules = [f"rule_{i}" for i in range(6)]
    lake.append(QUALITY_RESULTS, _frame(QUALITY_RESULTS, [_check(r, False) for r in rules]), run_id="t")
    _evaluate(lake, alerts)
    titles = [p["markdown"]["title"] for p in _posts(robot)]
    assert len(titles) == 3 and len(mailbox.messages) == 3
    assert titles[2].startswith("4 more alerts (rate limit 3 per")
    summary = _posts(robot)[2]["markdown"]["text"]
    assert sum(f"Blocking check {r} " in summary for r in rules) == 4
    log = lake.read(ALERT).filter(pl.col("channel") == "webhook")
    assert dict(log.group_by("delivery").len().iter_rows()) == {"sent": 2, "summarized": 4}

    # the window is full: two more incidents are recorded as suppressed, nothing is sent
    lake.append(
        QUALITY_RESULTS,
        _frame(QUALITY_RESULTS, [_check("rule_6", False), _check("rule_7", False)]),
        run_id="t",
    )
    _evaluate(lake, alerts, NOW + dt.timedelta(minutes=30))
    assert len(robot.received) == 3 and len(mailbox.messages) == 3
    log = lake.read(ALERT).filter(pl.col("channel") == "webhook")
    assert log.filter(pl.col("delivery") == "suppressed")["incident_key"].to_list() == [
        "check_failed:theme.energy_daily:2026-11-07:rule_6",
        "check_failed:theme.energy_daily:2026-11-07:rule_7",
    ]
    # a new window: the resolution of all eight goes out as 2 + a summary of 6
    later = NOW + dt.timedelta(minutes=90)
    lake.append(
        QUALITY_RESULTS,
        _frame(QUALITY_RESULTS, [_check(f"rule_{i}", True, at=later) for i in range(8)]),
        run_id="t",
    )
    report = _evaluate(lake, alerts, later)
    assert report.resolved == 8 and len(robot.received) == 6
    assert _posts(robot)[5]["markdown"]["title"].startswith("6 more alerts")


def test_no_secret_or_personal_value_ever_appears_in_an_alert_body(tmp_path, robot, mailbox):
    lake, alerts = Lake(tmp_path / "lake"), _settings(robot, mailbox)
    _province(lake)
    _evaluate(lake, alerts)
    active = failed_runs([("daily_job", "FAILURE", "run-9")])
    active[0] = type(active[0])(
        active[0].key,
        active[0].kind,
        active[0].severity,
        active[0].title,
        (f"error: owner {PERSON} {PHONE} token {TOKEN}",),
    )
    run_alerts(lake, alerts, active, scope=(), run_id="t", now=NOW)
    sent = [raw for _, raw in robot.received] + mailbox.messages
    assert len(sent) == 12
    for raw in sent:
        text = (
            raw.decode("utf-8") + json.dumps(json.loads(raw))
            if raw.startswith(b"{")
            else raw.decode("utf-8", "replace")
        )
        for forbidden in (SECRET, PASSWORD, TOKEN, PHONE, PERSON):
            assert forbidden not in text
            assert (
                base64.b64encode(forbidden.encode()).decode() not in text
            )  # not hidden in a MIME part either
    bodies = lake.read(ALERT)["body"].to_list()
    assert not [b for b in bodies for f in (SECRET, PASSWORD, TOKEN, PHONE, PERSON) if f in b]
    assert any("***" in b for b in bodies)


def test_failed_run_alerts_once_and_resolves_after_the_next_success(tmp_path, robot, mailbox):
    lake, alerts = Lake(tmp_path / "lake"), _settings(robot, mailbox)
    scope = ("run_failed",)
    assert (
        run_alerts(
            lake,
            alerts,
            failed_runs([("daily_job", "FAILURE", "r1"), ("ingest_job", "SUCCESS", "r2")]),
            scope=scope,
            run_id="t",
            now=NOW,
        ).raised
        == 1
    )
    assert (
        run_alerts(
            lake, alerts, failed_runs([("daily_job", "FAILURE", "r1")]), scope=scope, run_id="t", now=NOW
        ).raised
        == 0
    )
    report = run_alerts(
        lake,
        alerts,
        failed_runs([("daily_job", "SUCCESS", "r3")]),
        scope=scope,
        run_id="t",
        now=NOW + dt.timedelta(minutes=1),
    )
    assert report.resolved == 1
    assert [p["markdown"]["title"] for p in _posts(robot)] == [
        "Run of daily_job failed",
        "Resolved: Run of daily_job failed",
    ]
    assert len(mailbox.messages) == 2


def test_a_delivery_that_failed_is_retried_next_time(tmp_path, robot, mailbox):
    lake = Lake(tmp_path / "lake")
    down = _settings(
        robot,
        mailbox,
        LAKEHOUSE_ALERT_WEBHOOK_URL=f"http://127.0.0.1:{_free_port()}/x",
        LAKEHOUSE_ALERT_SMTP_HOST="",
    )
    incident = failed_runs([("daily_job", "FAILURE", "r1")])
    run_alerts(lake, down, incident, scope=(), run_id="t", now=NOW)
    row = lake.read(ALERT).row(0, named=True)
    assert (row["delivery"], row["error"]) == ("failed", "webhook: ConnectError")
    assert (
        run_alerts(
            lake, _settings(robot, mailbox), incident, scope=(), run_id="t", now=NOW + dt.timedelta(minutes=1)
        ).raised
        == 1
    )
    assert len(robot.received) == 1


def test_a_failed_dagster_run_alerts_through_the_sensors_and_resolves_after_a_success(
    tmp_path, robot, monkeypatch
):
    import dagster as dg

    from orchestration.alerts import alert_sensor, run_failure_alert
    from warehouse.settings import settings

    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    monkeypatch.setenv("LAKEHOUSE_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{robot.server_address[1]}/robot")
    monkeypatch.setenv("LAKEHOUSE_ALERT_WEBHOOK_SECRET", SECRET)
    settings.cache_clear()

    @dg.op(config_schema={"fail": bool})
    def step(context) -> None:
        if context.op_config["fail"]:
            raise RuntimeError(f"gateway login failed with password {SECRET}")

    @dg.job
    def flaky_job() -> None:
        step()

    def run(fail: bool):
        return flaky_job.execute_in_process(
            run_config={"ops": {"step": {"config": {"fail": fail}}}}, instance=instance, raise_on_error=False
        )

    with dg.instance_for_test() as instance:
        failed = run(True)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert",
            dagster_instance=instance,
            dagster_run=failed.dagster_run,
            dagster_event=failed.get_run_failure_event(),
        ).for_run_failure()
        run_failure_alert(context)
        # the periodic sensor sees the same failed run: no second alert
        alert_sensor(dg.build_sensor_context(instance=instance))
        assert [p["markdown"]["title"] for p in _posts(robot)] == ["Run of flaky_job failed"]
        run(False)
        alert_sensor(dg.build_sensor_context(instance=instance))
    settings.cache_clear()
    assert [p["markdown"]["title"] for p in _posts(robot)] == [
        "Run of flaky_job failed",
        "Resolved: Run of flaky_job failed",
    ]
    assert all(SECRET not in raw.decode() for _, raw in robot.received)
    assert Lake(tmp_path / "lake").read(ALERT).sort("created_at")["event"].to_list() == ["raised", "resolved"]


def test_sync_incidents_are_per_node_and_a_held_restatement_is_one_with_its_reason():
    """Two nodes failing the same day are two incidents; a node that acknowledges resolves only its own;
    a restatement held (the node keeps figures the province no longer has) is raised with the reason."""
    a, b = "http://node-a:1", "http://node-b:1"
    rows = [
        {"node": a, "period": "2026-11-05", "batch_id": "37-2026-11-05-v1", "status": "failed"},
        {"node": b, "period": "2026-11-05", "batch_id": "37-2026-11-05-v1", "status": "failed"},
        {"node": a, "period": "2026-11-06", "batch_id": "37-2026-11-06-v1", "status": "acknowledged"},
        {
            "node": a,
            "period": "2026-11-06",
            "batch_id": "37-2026-11-06-v2",
            "version": 2,
            "status": "held",
            "message": "restatement held: energy: entries withheld in an earlier version are gone now",
        },
    ]
    ledger = _frame(SYNC_LEDGER, [{"version": 1, "attempts": 1, "channel": "national"} | r for r in rows])
    found = sync_problems(ledger, now=NOW, overdue_after=dt.timedelta(hours=6))
    keys = sorted(i.key for i in found)
    assert keys == [
        f"sync_failed:2026-11-05:national@{a}",
        f"sync_failed:2026-11-05:national@{b}",
        f"sync_held:2026-11-06:national@{a}",
    ]
    held = next(i for i in found if i.kind == "sync_held")
    assert held.title == "Restatement of 2026-11-06 held: the node keeps version 1"
    assert any("entries withheld in an earlier version are gone" in line for line in held.lines)
    acked = ledger.with_columns(
        status=pl.when(pl.col("node") == b).then(pl.lit("acknowledged")).otherwise(pl.col("status"))
    )
    assert f"sync_failed:2026-11-05:national@{b}" not in {
        i.key for i in sync_problems(acked, now=NOW, overdue_after=dt.timedelta(hours=6))
    }
    assert "sync_held" in TABLE_KINDS
