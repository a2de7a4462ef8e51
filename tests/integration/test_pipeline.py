"""Real Dagster runs over a simulated province: results match the simulator's ground truth exactly."""

import csv
import io
from collections import Counter
from pathlib import Path

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
    # one connected enterprise's register rows carry a bad USCC (simulator/register.py): its telemetry is
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
    # the misreporters, and enterprises whose feed stopped before the last day ended (simulator/feeds.py):
    # their monitored days fall short of what they report
    outages = truth(home)["feeds"]["outages"]
    stopped = set(outages["silent"]) | set(outages["late"])
    assert set(er["misreported"]) <= set(failing["uscc"]) <= set(er["misreported"]) | stopped
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


def _injected_code_defects(home) -> Counter:
    """Rows the simulator injected per code-standard defect kind, read back from the landed register exports
    by their marker name (not from the simulator's own verdict, which calls warehouse.codes)."""
    from simulator.register import CODE_DEFECTS

    names = [
        row["企业名称"]
        for path in sorted((home / "landing" / "registry").glob("*.csv"))
        for row in csv.DictReader(io.StringIO(path.read_bytes().decode("gb18030")))
    ]
    return Counter(k for n in names for k in CODE_DEFECTS if f"问题数据{k}" in n)


def test_registry_quarantine_matches_ground_truth_per_reason(home):
    """Every register/roster defect class, the code-standard ones included, lands under its own reason, and
    each code-standard reason holds exactly the rows injected for it: no valid code is caught by it."""
    from simulator.register import CODE_DEFECTS

    got = dict(sql("select reason, count(*) from quarantine.enterprise group by 1").iter_rows())
    assert got == truth(home)["registry"]["quarantined"]
    injected = _injected_code_defects(home)
    assert set(injected) == set(CODE_DEFECTS)
    per_reason = Counter()
    for kind, n in injected.items():
        per_reason[CODE_DEFECTS[kind]] += n
    assert {r: got.get(r) for r in per_reason} == dict(per_reason)
    assert {"uscc_org_code_check", "uscc_check_char", "region_invalid"} <= set(got)


def test_enterprise_register_reconciles_file_by_file_with_ground_truth(home):
    """catalog.reconciliation for silver.enterprise: one row per register export and the roster, each
    landed = clean + quarantined + duplicates and equal to what the simulator wrote."""
    reg = truth(home)["registry"]
    rec = {
        Path(r["partition"]).name: r
        for r in sql("select * from catalog.reconciliation where table_name = 'silver.enterprise'").to_dicts()
    }
    assert set(rec) == set(reg["files"]) | {"key_enterprises.xlsx"}
    for r in rec.values():
        assert r["landed"] == r["clean"] + r["quarantined"] + r["duplicates"], r
    for name, f in reg["files"].items():
        got = (rec[name]["landed"], rec[name]["duplicates"], rec[name]["quarantined"])
        assert got == (f["rows"], f["duplicates"], sum(f["quarantined"].values())), name
    roster = rec["key_enterprises.xlsx"]
    assert (roster["landed"], roster["quarantined"]) == (reg["roster"]["rows"], 1)


def test_demo_summary_reconciles_on_a_real_build(home):
    """The check `lakehouse demo` ends with (reconciliation of every table, quarantine by reason against the
    ground truth for telemetry, register, trades and reports, the golden record's size) passes."""
    from orchestration.cli_demo import demo_summary

    ok, problems = demo_summary()
    assert ok and problems == [], problems


def test_rerun_with_nothing_new_changes_nothing(home):
    from orchestration.runs import run_pending
    from warehouse.registry import TABLES
    from warehouse.settings import settings
    from warehouse.storage import Lake

    lake = Lake(settings().lake)
    before = {name: lake.version(spec) for name, spec in TABLES.items()}
    summary = run_pending()
    assert summary["days"] == [] and summary["failed"] == []
    after = {name: lake.version(TABLES[name]) for name in before}
    assert before == after


def test_grade_3_values_never_appear_in_any_analyst_view(home):
    """The simulator's resident ID numbers (grade 3) are in the core lake but in no analyst view, in no
    column of any table; the stewards' views show them masked only."""
    import csv
    import io

    from warehouse.access import ANALYST, STEWARD, role_database
    from warehouse.serving.session import connect

    ids: set[str] = set()
    for path in sorted((home / "landing" / "registry").glob("*.csv")):
        rows = list(csv.reader(io.StringIO(path.read_bytes().decode("gb18030"))))
        col = rows[0].index("法定代表人证件号码")
        ids |= {r[col] for r in rows[1:] if len(r) > col and r[col]}
    assert len(ids) > 10
    core = pl.read_delta(str(home / "lake" / "silver" / "enterprise"))
    assert set(core["legal_representative_id"].drop_nulls()) & ids  # kept in clear in the core

    def leaked(db) -> list[str]:
        con = connect(db, read_only=True)
        try:
            views = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name <> 'main'"
            ).fetchall()
            assert len(views) > 20
            found = []
            for schema, view in views:
                df = con.sql(f"SELECT * FROM {schema}.{view}").pl()
                for name, dtype in df.schema.items():
                    if dtype == pl.String and df[name].is_in(list(ids)).any():
                        found.append(f"{schema}.{view}.{name}")
            return found
        finally:
            con.close()

    warehouse = home / "warehouse.duckdb"
    assert leaked(role_database(warehouse, ANALYST)) == []
    assert leaked(role_database(warehouse, STEWARD)) == []
    con = connect(role_database(warehouse, STEWARD), read_only=True)
    try:
        shown = con.sql("SELECT legal_representative_id FROM silver.enterprise").pl()[
            "legal_representative_id"
        ]
        assert (
            shown.drop_nulls().str.contains(r"^\d{6}\*{8}[\dX]{4}$").all() and shown.drop_nulls().len() > 10
        )
    finally:
        con.close()


def test_production_reconciles_and_quarantine_matches_ground_truth_per_day(home):
    t = truth(home)["production"]
    rec = sql("select * from catalog.reconciliation where table_name = 'silver.production'")
    got = {r["partition"]: r for r in rec.to_dicts()}
    assert set(got) == set(t["by_day"])
    for day, exp in t["by_day"].items():
        r = got[day]
        assert (r["landed"], r["clean"], r["duplicates"]) == (exp["landed"], exp["clean"], exp["duplicates"])
        assert r["quarantined"] == sum(exp["quarantined"].values()), day
    reasons = dict(sql("select reason, count(*) from quarantine.production group by 1").iter_rows())
    assert reasons == {k: v for k, v in t["quarantined"].items() if v}


def test_production_daily_covers_every_clean_record_with_oee_in_range(home):
    lines = sql("select * from theme.production_daily")
    assert lines.height == sql("select count(*) as n from silver.production")["n"].item() > 0
    assert lines["oee"].is_between(0, 1).all()
    ent = sql("select * from theme.production_enterprise_daily")
    assert ent["lines"].sum() == lines.height
    assert ent["energy_intensity"].drop_nulls().len() > 0


def test_industry_libraries_are_built_per_day_and_reconcile_with_energy(home):
    from warehouse.domain import INDUSTRY_LIBRARIES

    days = set(sql("select distinct day::varchar as d from theme.energy_daily")["d"])
    total = 0.0
    for lib, divisions in INDUSTRY_LIBRARIES.items():
        codes = ", ".join(f"'{c}'" for c in divisions)
        expected = sql(
            f"select coalesce(sum(energy_tce), 0) as tce from theme.energy_daily where industry_code in ({codes})"
        )["tce"].item()
        got = sql(f"select coalesce(sum(energy_tce), 0) as tce from industry.{lib}")["tce"].item()
        assert abs(got - expected) < 1e-6 * max(1.0, expected), lib
        total += got
    assert total > 0
    rec = sql("select * from catalog.reconciliation where table_name like 'industry.%'")
    assert set(rec["partition"]) == days
    assert rec.filter(pl.col("landed") != pl.col("clean")).is_empty()
    monthly = sql("select * from industry.library_monthly")
    assert monthly.height > 0 and abs(monthly["energy_tce"].sum() - total) < 1e-6 * total
    catalog = set(sql("select table_name from catalog.dataset")["table_name"])
    assert {f"industry.{lib}" for lib in INDUSTRY_LIBRARIES} | {"industry.library_monthly"} <= catalog


def test_feed_status_matches_the_simulators_silent_and_late_enterprises(home):
    """catalog.feed_status's function at the simulator's instant names exactly its silent and late feeds."""
    import datetime as dt

    from assets.catalog.feeds import lake_feed_status
    from warehouse.settings import settings
    from warehouse.storage import Lake

    feeds = truth(home)["feeds"]
    s = settings()
    assert s.feed_cadence.total_seconds() / 60 == feeds["cadence_minutes"]
    assert s.feed_silent_after.total_seconds() / 3600 == feeds["silent_hours"]
    status = lake_feed_status(Lake(s.lake), s, now=dt.datetime.fromisoformat(feeds["at"]))
    by = {k: sorted(status.filter(pl.col("status") == k)["uscc"]) for k in ("silent", "late", "on_time")}
    assert feeds["silent"] and feeds["late"]
    assert by["silent"] == feeds["silent"]
    assert by["late"] == feeds["late"]
    assert len(by["on_time"]) == feeds["on_time"]


def test_feeds_on_time_check_warns_with_the_late_and_silent_feeds(home):
    """catalog_job ran the asset check: the simulated feeds are weeks old by now, so every one is silent."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        key = dg.AssetCheckKey(dg.AssetKey(["catalog", "feed_status"]), "feeds_on_time")
        record = instance.get_latest_asset_check_evaluation_record(key)
    evaluation = record.event.dagster_event.event_specific_data
    assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["feeds/silent"].value == truth(home)["master"]["enterprises"]
