"""The benchmark harness end to end on a tiny day: engines agree, results and report are written."""

import json

import polars as pl
import pytest

from bench.engines import compare_outputs
from bench.run import BenchMismatch, run_bench


def tiny_bench(tmp_path, *, gate: bool = False, **phases) -> dict:
    """One run of a 20k-row day, results and BENCHMARKS.md under tmp_path; no plot (nor, unless asked,
    gate phase)."""
    return run_bench(
        [20_000],
        runs=1,
        out_dir=tmp_path / "results",
        markdown=tmp_path / "BENCHMARKS.md",
        work_dir=tmp_path / "work",
        gate=gate,
        plot=False,
        **phases,
    )


def test_tiny_bench_engines_agree_and_results_written(tmp_path):
    """The engines' phase alone (every phase end to end is the soak test below)."""
    out_dir, md = tmp_path / "results", tmp_path / "BENCHMARKS.md"
    result = tiny_bench(tmp_path, analyst=False, sync_runs=0, sqlserve=False, housekeeping=False)
    (size,) = result["sizes"]
    assert abs(size["rows"] - 20_000) < 2_500
    for engine in ("ours", "polars", "duckdb"):
        e = size["engines"][engine]
        assert e["status"] == "ok", e
        assert e["median_seconds"] > 0 and e["peak_rss_mib"] > 0
    assert "equal" in size["agreement"]
    assert size["ratio_ours_vs_best_bare"] > 0
    run_dir = tmp_path / "work" / "runs" / "20k"
    ours = pl.read_parquet(run_dir / "ours-1.parquet")
    assert ours.height == size["equipment"]
    assert ours["energy_tce"].sum() > 0
    (json_path,) = out_dir.glob("*.json")
    saved = json.loads(json_path.read_text())
    assert saved["sizes"][0]["engines"]["ours"]["n_runs"] == 1
    assert saved["machine"]["cpu_count"] and saved["machine"]["versions"]["polars"]
    assert "ours / best bare" in md.read_text()


@pytest.mark.soak
def test_tiny_bench_every_phase_runs_and_is_reported(tmp_path):
    out_dir, md = tmp_path / "results", tmp_path / "BENCHMARKS.md"
    tiny_bench(tmp_path, analyst=True, analyst_days=7, analyst_runs=3, sync_runs=2, sync_enterprises=60)
    (json_path,) = out_dir.glob("*.json")
    saved = json.loads(json_path.read_text())
    assert saved["analyst"]["queries"]["top10_cities_range"]["delta_view"]["p95_ms"] > 0
    sync = saved["national_sync"]
    assert sync["status"] == "ok" and sync["rows"] > 0 and sync["bytes"] > 0
    assert sync["round_trip_ms"]["p50_ms"] > 0 and sync["current_version"] == sync["versions_at_node"] == 3
    assert "National sync round-trip" in md.read_text() and "Not measured" not in md.read_text()
    hk = saved["housekeeping"]
    assert hk["status"] == "ok" and hk["usage"]["before"]["live_files"] == 4 * 7
    assert hk["usage"]["after"]["live_files"] == hk["usage"]["after"]["disk_files"] == 1  # 7 days, 1 month
    assert set(hk["ratio_after_to_single_kept_p95"]) == set(hk["ratio_after_to_single_p95"])
    assert "Housekeeping: analyst queries before and after compaction" in md.read_text()


def test_compare_outputs_flags_a_difference(tmp_path):
    base = pl.DataFrame(
        {
            "equipment_id": ["EQ1", "EQ2"],
            "electricity_kwh": [100.0, None],
            "natural_gas_m3": [None, 5.0],
            "coal_t": [None, None],
            "energy_tce": [0.01229, 0.0060715],
            "peak_load_kw": [10.0, None],
            "mean_load_kw": [5.0, None],
        }
    )
    base.write_parquet(tmp_path / "a.parquet")
    base.with_columns(electricity_kwh=pl.Series([100.0 * (1 + 1e-9), None])).write_parquet(
        tmp_path / "b.parquet"
    )
    assert compare_outputs(tmp_path / "a.parquet", tmp_path / "b.parquet") == []
    base.with_columns(electricity_kwh=pl.Series([100.1, None])).write_parquet(tmp_path / "c.parquet")
    assert compare_outputs(tmp_path / "a.parquet", tmp_path / "c.parquet")
    base.with_columns(natural_gas_m3=pl.Series([0.0, 5.0])).write_parquet(tmp_path / "d.parquet")
    assert compare_outputs(tmp_path / "a.parquet", tmp_path / "d.parquet")  # null vs 0 is a difference
    assert issubclass(BenchMismatch, AssertionError)


@pytest.mark.parametrize("rows", [1_000_000])
def test_calibration_hits_the_size(rows):
    from bench.data import calibrate

    enterprises, predicted = calibrate(rows)
    assert enterprises > 0
    if predicted is not None:  # exact when the simulator's province builder is reachable
        assert abs(predicted - rows) / rows < 0.005


def test_the_bench_gates_silver_shard_by_shard_as_the_build_does(tmp_path):
    """The gate phase validates the partition's files one at a time (each a shard's), as
    `gate_silver_day` does, and finds every row of the day's silver in them with no failing check."""
    result = tiny_bench(
        tmp_path,
        gate=True,
        analyst=False,
        sync_runs=0,
        sqlserve=False,
        housekeeping=False,
        shard_rows=7_000,
    )
    (size,) = result["sizes"]
    gate = size["gate"]
    assert gate["status"] == "ok", gate
    assert gate["failed_checks"] == []
    assert gate["files"] == size["ours_shards"]["shards"] >= 3  # one file per shard
    assert gate["rows"] == gate["gx_rows"] > 0  # the GX suite saw every silver row, in pieces
    assert gate["warm_seconds"] > 0 and gate["gx_no_docs_seconds"] > 0
    assert "one shard at a time" in (tmp_path / "BENCHMARKS.md").read_text()
