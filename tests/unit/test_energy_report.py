"""Daily sums against monthly reports (rule daily_sums_agree_with_monthly) and the report landing file."""

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from assets.energy_report.reports import FIELDS, load_reports
from quality.agreement import report_agreement
from quality.checks import Reconciliation
from quality.rules import daily_sums_agree_with_monthly
from simulator import generate
from simulator.province import build_province
from warehouse.domain import KGCE_PER_UNIT
from warehouse.registry import ENERGY_REPORT

A, B = "914403001922038216", "91370102MA3C123469"
NOV = [dt.date(2026, 11, d) for d in (1, 2, 3)]


def reports(rows: list[dict]) -> pl.DataFrame:
    """silver.energy_report rows for 2026-11-01..03 (a flash report) with the given uscc and energy_tce."""
    base = {
        "month": "2026-11",
        "from_day": NOV[0],
        "through_day": NOV[-1],
        "report_kind": "flash",
        "electricity_kwh": 0.0,
        "natural_gas_m3": 0.0,
        "coal_t": 0.0,
        "reported_at": dt.datetime(2026, 11, 4, 2, tzinfo=dt.UTC),
        "source_file": "energy_reports/2026-11.csv",
        "line_no": 2,
    }
    return pl.DataFrame([base | r for r in rows], schema=ENERGY_REPORT.schema)


def energy(per_day: dict[str, list[float]], days=NOV) -> pl.DataFrame:
    """theme.energy_daily-shaped rows: two equipment per enterprise and day splitting the day's tce."""
    rows = [
        {"day": d, "uscc": u, "energy_tce": v / 2}
        for u, values in per_day.items()
        for d, v in zip(days, values, strict=True)
        for _ in range(2)
    ]
    return pl.DataFrame(rows, schema={"day": pl.Date, "uscc": pl.String, "energy_tce": pl.Float64})


def agreement(reported: dict[str, float], per_day: dict[str, list[float]], days=NOV) -> dict[str, dict]:
    """report_agreement's row per enterprise for flash reports of {uscc: tce} against its daily sums."""
    filed = reports([{"uscc": u, "energy_tce": tce} for u, tce in reported.items()])
    return {r["uscc"]: r for r in report_agreement(filed, energy(per_day, days), days).to_dicts()}


def test_exactly_five_percent_agrees_and_just_above_disagrees():
    # A: days sum 30 + 35 + 40 = 105 against a report of 100: exactly +5%, within the rule.
    # B: days sum 105.01 against 100: +5.01%, beyond it.
    got = agreement({A: 100.0, B: 100.0}, {A: [30.0, 35.0, 40.0], B: [30.0, 35.0, 40.01]})
    assert got[A]["daily_sum_tce"] == pytest.approx(105.0)
    assert got[A]["deviation"] == pytest.approx(0.05)
    assert got[A]["status"] == "agrees" and got[A]["note"] is None
    assert got[B]["deviation"] == pytest.approx(0.0501)
    assert got[B]["status"] == "disagrees"
    assert "105.01 tce vs reported 100.0 tce" in got[B]["note"]


def test_below_by_exactly_five_percent_agrees_and_the_deviation_is_relative_to_the_report():
    # 190 against 200 is -5% of the report (it would be -5.26% of the daily sum).
    got = agreement({A: 200.0}, {A: [60.0, 60.0, 70.0]})
    assert got[A]["deviation"] == pytest.approx(-0.05)
    assert got[A]["status"] == "agrees"


def test_report_with_a_day_not_built_is_not_evaluated_not_failed():
    got = agreement({A: 100.0}, {A: [10.0, 10.0]}, days=NOV[:2])
    assert got[A]["status"] == "not_evaluated"
    assert got[A]["days_in_report"] == 3 and got[A]["days_built"] == 2
    assert got[A]["deviation"] is None and got[A]["daily_sum_tce"] is None
    assert got[A]["note"] == "1 of 3 days not built in theme.energy_daily yet: 2026-11-03"
    filed = reports([{"uscc": A, "energy_tce": 100.0}])
    outcome = daily_sums_agree_with_monthly(
        filed, {"agreement": report_agreement(filed, energy({A: [10.0, 10.0]}, days=NOV[:2]), NOV[:2])}
    )
    assert outcome.passed and outcome.evaluated == 0 and outcome.failed == 0
    assert "1 not evaluated" in outcome.message


def test_enterprise_without_monitored_energy_sums_to_zero_and_disagrees():
    got = agreement({B: 12.0}, {A: [1.0, 1.0, 1.0]})
    assert got[B]["daily_sum_tce"] == 0.0
    assert got[B]["deviation"] == pytest.approx(-1.0)
    assert got[B]["status"] == "disagrees"


def test_zero_report_agrees_only_with_zero_consumption():
    got = agreement({A: 0.0, B: 0.0}, {A: [0.0, 0.0, 0.0], B: [0.0, 0.5, 0.0]})
    assert got[A]["status"] == "agrees"
    assert got[B]["status"] == "disagrees" and got[B]["deviation"] is None
    assert got[B]["note"] == "reported 0 tce but the days sum to 0.5 tce"


def test_outcome_lists_failing_enterprises_with_both_figures_and_deviation():
    filed = reports([{"uscc": A, "energy_tce": 100.0}, {"uscc": B, "energy_tce": 100.0}])
    outcome = daily_sums_agree_with_monthly(
        filed,
        {"agreement": report_agreement(filed, energy({A: [30.0, 30.0, 40.0], B: [40.0, 40.0, 40.0]}), NOV)},
    )
    assert (outcome.evaluated, outcome.failed, outcome.passed) == (2, 1, False)
    assert outcome.message.startswith("1 of 2 evaluated reports disagree")
    assert B in outcome.message and A not in outcome.message
    (row,) = outcome.sample
    assert row["uscc"] == B
    assert (row["reported_tce"], row["daily_sum_tce"]) == pytest.approx((100.0, 120.0))
    assert row["deviation"] == pytest.approx(0.2)


def _write(path, rows: list[list[str]], header=FIELDS) -> None:
    path.write_text("\n".join(",".join(r) for r in [list(header), *rows]) + "\n", "utf-8")


def test_report_file_bad_rows_are_quarantined_with_a_reason_and_nothing_is_dropped(tmp_path):
    uscc = build_province(3, np.random.default_rng(1)).enterprises["uscc"].to_list()
    folder = tmp_path / "energy_reports"
    folder.mkdir()
    ok = [
        "2026-11",
        "2026-11-01",
        "2026-11-03",
        "1000.5",
        "0.0",
        "1.250",
        "1.016",
        "2026-11-04T10:00:00+08:00",
    ]
    _write(
        folder / "2026-11.csv",
        [
            [uscc[0], *ok],
            [uscc[1][:-1] + ("0" if uscc[1][-1] != "0" else "1"), *ok],  # wrong check character
            [uscc[2], *ok[:3], "#VALUE!", *ok[4:]],
            [uscc[2], "2026-11", "2026-11-01", "2026-12-03", *ok[3:]],  # through_day outside the month
            [uscc[2], *ok[:7]],  # a field short
            [uscc[0], *ok[:7], "2026-11-04T09:00:00+08:00"],  # filed earlier than line 2: superseded
        ],
    )
    (folder / "2026-12.csv").write_bytes(b"uscc;month\n\xff\xfe")
    build = load_reports(folder, relative_to=tmp_path)
    assert build.clean.height == 1 and build.clean["line_no"].to_list() == [2]
    assert build.clean["report_kind"].to_list() == ["flash"]
    got = dict(build.quarantined.select("line_no", "reason").iter_rows())
    assert got == {
        0: "report_file_unreadable",
        3: "report_uscc_invalid",
        4: "report_number_invalid",
        5: "report_period_invalid",
        6: "report_malformed_row",
        7: "report_superseded",
    }
    assert (
        json.loads(build.quarantined.filter(pl.col("line_no") == 4)["payload"].item())["electricity_kwh"]
        == "#VALUE!"
    )
    assert all(p.holds for p in build.parts.values())
    assert sum(p.landed for p in build.parts.values()) == 7
    assert build.parts["energy_reports/2026-12.csv"].quarantined == 1


def test_no_report_files_yet_builds_empty_tables(tmp_path):
    build = load_reports(tmp_path / "energy_reports", relative_to=tmp_path)
    assert build.clean.is_empty() and build.quarantined.is_empty() and not build.parts
    assert build.clean.schema == ENERGY_REPORT.schema


def test_simulator_files_one_report_per_month_from_the_first_simulated_day(tmp_path):
    m = generate(
        tmp_path / "landing",
        tmp_path / "manifest.json",
        enterprises=8,
        days=4,
        start=dt.date(2026, 10, 30),
        seed=3,
        defect_rate=0.05,
    )
    er = m["energy_reports"]
    build = load_reports(tmp_path / "landing" / "energy_reports", relative_to=tmp_path / "landing")
    windows = build.clean.select("month", "from_day", "through_day", "report_kind").unique().sort("month")
    assert windows.rows() == [
        ("2026-10", dt.date(2026, 10, 30), dt.date(2026, 10, 31), "monthly"),
        ("2026-11", dt.date(2026, 11, 1), dt.date(2026, 11, 2), "flash"),
    ]
    assert (er["files"], er["rows"]) == (2, 16)
    assert dict(build.quarantined.group_by("reason").len().iter_rows()) == {
        k: v for k, v in er["quarantined"].items() if v
    }
    assert build.clean.height == er["clean"] == 16 - sum(er["quarantined"].values())
    assert len(er["misreported"]) == 2  # 8 enterprises x 5% defect rate x 5
    # the report's own tce is its carriers at the GB/T 2589 factors
    tce = (
        sum(
            build.clean[c] * KGCE_PER_UNIT[k]
            for c, k in (
                ("electricity_kwh", "electricity"),
                ("natural_gas_m3", "natural_gas"),
                ("coal_t", "coal"),
            )
        )
        / 1000
    )
    assert (build.clean["energy_tce"] - tce).abs().max() < 0.002
    misreported_months = {f"{u} {mo}" for u in er["misreported"] for mo in ("2026-10", "2026-11")}
    # beside the misreporters, a feed that stopped on the last day (simulator/feeds.py) falls short of the
    # month-to-date report of an enterprise that reports honestly
    stopped = {f"{u} 2026-11" for u in (*m["feeds"]["outages"]["silent"], *m["feeds"]["outages"]["late"])}
    assert misreported_months <= set(er["disagreeing"]) <= misreported_months | stopped


def test_the_reports_checks_reconcile_per_file_and_see_the_agreement(tmp_path):
    """silver.energy_report's checks get one reconciliation per report file (a table without partitions),
    the row rules' counts, and the comparison with the daily sums their agreement rule reads."""
    folder = tmp_path / "energy_reports"
    folder.mkdir()
    (folder / "2026-12.csv").write_bytes(b"uscc;month\n\xff\xfe")  # one unreadable file: one quarantine row
    build = load_reports(folder, relative_to=tmp_path)
    agreement = pl.DataFrame({"uscc": ["x"], "status": ["agrees"]})
    gated = build.gated(agreement)
    assert gated.spec == ENERGY_REPORT and gated.df is build.clean
    assert gated.sources == {"energy_reports/2026-12.csv": Reconciliation(1, 0, 1, 0)}
    assert gated.reconciliation == Reconciliation(1, 0, 1, 0)
    assert gated.checks == {
        "row_rule_counts": {"report_file_unreadable": 1},
        "context": {"agreement": agreement},
    }
