"""The backfill benchmark's arithmetic: what `materialize` printed and the runs' events make one row."""

from bench.backfill import markdown, summarize

STDOUT = "  [1/2] day 2026-09-01: ok\n  [2/2] day 2026-09-02: ok\ningest 3.0s; built 2 day(s) in 20.0s; catalog 4.0s\n"
RUNS = [
    {"job": "ingest_job", "status": "SUCCESS", "events": 95, "seconds": 2.5, "compute_seconds": 0.0},
    {"job": "daily_job", "status": "SUCCESS", "events": 230, "seconds": 19.0, "compute_seconds": 17.0},
    {"job": "catalog_job", "status": "SUCCESS", "events": 140, "seconds": 3.5, "compute_seconds": 0.0},
]


def test_overhead_is_the_day_builds_wall_not_spent_in_asset_bodies():
    row = summarize("embedded-ranges", 30.0, STDOUT, RUNS)
    assert (row["days"], row["daily_s"], row["catalog_s"], row["ingest_s"]) == (2, 20.0, 4.0, 3.0)
    assert (row["daily_runs"], row["daily_events"], row["all_events"]) == (1, 230, 465)
    assert row["overhead_s"] == 3.0 and row["overhead_share"] == 0.15


def test_the_markdown_table_has_a_row_per_mode():
    row = summarize("embedded-ranges", 30.0, STDOUT, RUNS) | {
        "load_before": [1.0, 1.0, 1.0],
        "load_after": [2.0, 1.0, 1.0],
        "days_per_run": 31,
    }
    config = {
        "argv": ["--days", "2"],
        "days": 2,
        "readings_per_day": 20_000,
        "enterprises": 10,
        "landed": 40_000,
        "commit": "abc",
        "cpus": 2,
        "shard_rows": 500_000,
    }
    md = markdown({"config": config, "modes": [row]})
    assert "| embedded-ranges | 31 | 30.0 | 20.0 | 1 | 230.0 | 465 | 17.0 | 3.0 | 15.0% | 1.0 / 2.0 |" in md
