"""Real Dagster runs over a simulated province: results match the simulator's ground truth exactly."""

import polars as pl

from tests.integration.conftest import sql, truth


def test_all_runs_succeed(province):
    s = province["summary"]
    assert s["failed"] == [], s["failed"]
    assert len(s["days"]) >= 3


def test_every_silver_partition_reconciles_and_matches_ground_truth_per_day(home):
    t = truth(home)
    rec = sql("select * from catalog.reconciliation where table_name = 'silver.telemetry'")
    assert rec.filter(
        pl.col("landed") != pl.col("clean") + pl.col("quarantined") + pl.col("duplicates")
    ).is_empty()
    got = {r["partition"]: r for r in rec.to_dicts()}
    # by_batch_day: records that cannot be placed on their own day count in their file's batch day
    assert set(got) == set(t["by_batch_day"])
    for day, exp in t["by_batch_day"].items():
        assert got[day]["landed"] == exp["landed"], day
        assert got[day]["clean"] == exp["clean"], day
        assert got[day]["duplicates"] == exp["duplicates"], day
        assert got[day]["quarantined"] == sum(exp["quarantined"].values()), day


def test_quarantine_counts_per_reason_match_ground_truth(home):
    exp = {k: v for k, v in truth(home)["expected"]["quarantined"].items() if v}
    got = dict(sql("select reason, count(*) from quarantine.telemetry group by 1").iter_rows())
    assert got == exp


def test_quality_flags_match_ground_truth(home):
    exp = truth(home)["expected"]["flags"]
    got = dict(sql("select quality_flag, count(*) from silver.telemetry group by 1").iter_rows())
    assert got.get("bad", 0) == exp["bad"]
    assert got.get("uncertain", 0) == exp["uncertain"]


def test_bronze_holds_every_landed_record_once_and_files_are_accounted(home):
    t = truth(home)
    assert sql("select count(*) as n from bronze.telemetry_raw")["n"].item() == t["expected"]["landed"]
    files = dict(sql("select status, count(*) from catalog.landing_files group by 1").iter_rows())
    assert files.get("duplicate_file", 0) == t["files"]["resent"]
    assert files.get("rejected", 0) == sum(t["files"]["rejected"].values())
    assert sum(files.values()) == t["files"]["written"]
    rejected = dict(
        sql(
            "select reason, count(*) from catalog.landing_files where status='rejected' group by 1"
        ).iter_rows()
    )
    assert rejected == {k: v for k, v in t["files"]["rejected"].items() if v}
    assert all((home / "landing" / "rejected").rglob("*.reason"))


def test_energy_theme_is_non_zero_and_counts_every_silver_reading(home):
    e = sql(
        "select sum(energy_tce) as tce, sum(readings_received) as n, count(*) as rows from theme.energy_daily"
    )
    s = sql("select count(*) as n from silver.telemetry")
    assert e["tce"].item() > 0 and e["rows"].item() > 0
    assert e["n"].item() == s["n"].item()


def test_checks_pass_and_quality_results_are_recorded(home):
    q = sql("select * from catalog.quality_results")
    assert q.height > 0
    blocking_failed = q.filter(~pl.col("passed") & (pl.col("severity") == "error"))
    assert blocking_failed.is_empty(), blocking_failed
    # Warnings the simulated landing must raise: its files are weeks old (freshness), GB18030 files
    # carry an extra `remark` column (schema drift) and three files are unreadable (rejected).
    warned = set(q.filter(~pl.col("passed"))["rule_id"].to_list())
    # one connected enterprise's register rows carry a bad USCC (simulator/registries.py): its telemetry is
    # reported as unknown to the golden record
    # the simulator's misreporting enterprises make the energy-report agreement warn (not block)
    assert warned == {
        "landing_fresh",
        "no_schema_drift",
        "files_readable",
        "enterprises_known",
        "daily_sums_agree_with_monthly",
    }, warned


def test_misreporting_enterprises_are_exactly_the_reports_disagreeing_with_daily_sums(home):
    er = truth(home)["energy_reports"]
    agreement = sql("select * from catalog.energy_report_agreement")
    assert (
        agreement.height == er["clean"] == sql("select count(*) as n from silver.energy_report")["n"].item()
    )
    assert agreement.filter(pl.col("status") == "not_evaluated").is_empty()  # every simulated day is built
    failing = agreement.filter(pl.col("status") == "disagrees")
    assert sorted(f"{u} {m}" for u, m in failing.select("uscc", "month").iter_rows()) == er["disagreeing"]
    assert sorted(failing["uscc"].unique().to_list()) == er["misreported"]
    assert failing["deviation"].abs().min() > 0.05
    assert agreement.filter(pl.col("status") == "agrees")["deviation"].abs().max() <= 0.05
    result = sql(
        "select * from catalog.quality_results where table_name = 'silver.energy_report' "
        "and rule_id = 'daily_sums_agree_with_monthly'"
    ).row(0, named=True)
    assert (result["evaluated"], result["failed"], result["passed"]) == (
        er["clean"],
        er["disagreements"],
        False,
    )
    assert result["severity"] == "warn"
    card = sql("select * from catalog.quality_scorecard where table_name = 'silver.energy_report'")
    assert card.height == 1 and card["rules_failed"].item() == 1


def test_broken_report_rows_are_quarantined_and_every_report_row_reconciles(home):
    er = truth(home)["energy_reports"]
    got = dict(sql("select reason, count(*) from quarantine.energy_report group by 1").iter_rows())
    assert got == {k: v for k, v in er["quarantined"].items() if v}
    rec = sql("select * from catalog.reconciliation where table_name = 'silver.energy_report'")
    assert rec["landed"].sum() == er["rows"] == rec["clean"].sum() + rec["quarantined"].sum()


def test_rerun_with_nothing_new_changes_nothing(home):
    from orchestration.cli import run_pending
    from warehouse.registry import TABLES
    from warehouse.settings import settings
    from warehouse.storage import Lake

    lake = Lake(settings().lake)
    # catalog.quality_results is the check log: every ingest run records its freshness evaluation
    before = {name: lake.version(spec) for name, spec in TABLES.items() if name != "catalog.quality_results"}
    summary = run_pending(progress=False)
    assert summary["days"] == [] and summary["failed"] == []
    after = {name: lake.version(TABLES[name]) for name in before}
    assert before == after
