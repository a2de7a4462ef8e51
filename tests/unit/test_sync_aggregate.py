"""Aggregation in DuckDB: energy per carrier and tce, enterprises, weighted completeness, time-weighted availability."""

import datetime as dt

import polars as pl
import pytest

from assets.sync.aggregate import ALL, aggregate_day
from assets.sync.batch import make_batch, payload_bytes, sha256
from assets.sync.release import release
from tests.unit.test_sync_release import DAY, duck, energy_rows, equipment_rows
from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY


def one(df: pl.DataFrame, city: str, industry: str) -> dict:
    return df.filter((pl.col("city_code") == city) & (pl.col("industry_code") == industry)).row(0, named=True)


def energy(rows: list[dict]) -> pl.DataFrame:
    """energy_daily rows of pumps in one cell, Jinan (3701) chemicals (26), each expecting 96 readings,
    unless a row says otherwise."""
    base = {
        "day": DAY,
        "city_code": "3701",
        "industry_code": "26",
        "readings_expected": 96,
        "equipment_type": "pump",
        "peak_load_kw": 1.0,
        "mean_load_kw": 1.0,
        "meter_drops": 0,
        "natural_gas_m3": None,
        "coal_t": None,
        "readings_good": 1,
        "readings_uncertain": 0,
        "readings_bad": 0,
    }
    out = []
    for r in rows:
        rec = base | r
        rec.setdefault("energy_tce", rec["electricity_kwh"] * 0.1229 / 1000)
        rec.setdefault("completeness_pct", 100 * rec["readings_received"] / rec["readings_expected"])
        out.append(rec)
    return pl.DataFrame(out, schema=ENERGY_DAILY.schema)


def equipment(rows: list[dict]) -> pl.DataFrame:
    base = {
        "day": DAY,
        "equipment_type": "pump",
        "running_hours": 1.0,
        "starts": 0,
        "limit_exceedances": 0,
        "readings_good": 1,
        "readings_uncertain": 0,
        "readings_bad": 0,
    }
    return pl.DataFrame([base | r for r in rows], schema=EQUIPMENT_DAILY.schema)


E1, E2 = "91370100000000001A", "91370100000000002B"


def test_energy_per_carrier_and_tce_sum_over_the_equipment_of_a_cell():
    e = energy(
        [
            {
                "uscc": E1,
                "equipment_id": "a",
                "electricity_kwh": 1000.0,
                "coal_t": 2.0,
                "energy_tce": 1.5515,
                "readings_received": 96,
            },
            {
                "uscc": E2,
                "equipment_id": "b",
                "electricity_kwh": 500.0,
                "natural_gas_m3": 100.0,
                "energy_tce": 0.18287,
                "readings_received": 96,
            },
        ]
    )
    agg = aggregate_day(duck(e, equipment([])), DAY)
    cell = one(agg, "3701", "26")
    assert cell["electricity_kwh"] == 1500.0 and cell["natural_gas_m3"] == 100.0 and cell["coal_t"] == 2.0
    assert cell["energy_tce"] == pytest.approx(1.73437)
    assert cell["contributors"] == cell["enterprises"] == 2


def test_enterprises_counts_each_enterprise_once_however_many_equipment():
    e = energy(
        [
            {
                "uscc": E1,
                "equipment_id": f"eq{i}",
                "electricity_kwh": 1.0,
                "readings_received": 96,
            }
            for i in range(4)
        ]
    )
    assert one(aggregate_day(duck(e, equipment([])), DAY), "3701", "26")["enterprises"] == 1


def test_completeness_is_weighted_by_expected_readings_not_a_mean_of_percentages():
    e = energy(
        [
            {
                "uscc": E1,
                "equipment_id": "big",
                "electricity_kwh": 1.0,
                "readings_expected": 960,
                "readings_received": 960,
            },
            {
                "uscc": E2,
                "equipment_id": "small",
                "electricity_kwh": 1.0,
                "readings_expected": 96,
                "readings_received": 48,
            },
        ]
    )
    cell = one(aggregate_day(duck(e, equipment([])), DAY), "3701", "26")
    assert cell["completeness_pct"] == pytest.approx(100 * 1008 / 1056)  # not (100 + 50) / 2


def test_availability_is_weighted_by_the_hours_each_equipment_was_observed():
    e = energy(
        [
            {
                "uscc": E1,
                "equipment_id": "a",
                "electricity_kwh": 1.0,
                "readings_received": 96,
            },
            {
                "uscc": E2,
                "equipment_id": "b",
                "electricity_kwh": 1.0,
                "readings_received": 24,
            },
        ]
    )
    q = equipment(
        [
            {"uscc": E1, "equipment_id": "a", "fault_hours": 12.0, "availability_pct": 50.0},  # 24 h observed
            {
                "uscc": E2,
                "equipment_id": "b",
                "fault_hours": 0.0,
                "availability_pct": 100.0,
                "readings_good": 90,
                "readings_bad": 6,
            },  # a pump reports 4 metrics: 96 / 4 x 15 min = 6 h observed
        ]
    )
    cell = one(aggregate_day(duck(e, q), DAY), "3701", "26")
    assert cell["availability_pct"] == pytest.approx(100 * (24 - 12 + 6) / 30)  # not (50 + 100) / 2


def test_margins_are_the_sums_of_their_cells_and_the_province_total_of_all():
    ents = [
        (f"91370000000000{i:04d}", c, ind)
        for i, (c, ind) in enumerate(
            [("3701", "26"), ("3701", "31"), ("3702", "26"), ("3702", "44"), ("3702", "44")]
        )
    ]
    e = energy_rows(ents)
    agg = aggregate_day(duck(e, equipment_rows(e)), DAY)
    cells = agg.filter(pl.col("level") == "cell")
    for city in ("3701", "3702"):
        assert one(agg, city, ALL)["electricity_kwh"] == pytest.approx(
            cells.filter(pl.col("city_code") == city)["electricity_kwh"].sum()
        )
    assert one(agg, ALL, "44")["enterprises"] == 2
    total = one(agg, ALL, ALL)
    assert total["level"] == "province_total" and total["enterprises"] == 5
    assert total["energy_tce"] == pytest.approx(e["energy_tce"].sum())
    assert set(agg["level"]) == {"cell", "city_total", "industry_total", "province_total"}


def test_laiwu_3712_records_count_for_jinan_3701():
    e = energy(
        [
            {
                "uscc": E1,
                "city_code": "3712",
                "industry_code": "31",
                "equipment_id": "a",
                "electricity_kwh": 2.0,
                "readings_received": 96,
            },
            {
                "uscc": E2,
                "city_code": "3701",
                "industry_code": "31",
                "equipment_id": "b",
                "electricity_kwh": 3.0,
                "readings_received": 96,
            },
        ]
    )
    agg = aggregate_day(duck(e, equipment([])), DAY)
    assert "3712" not in agg["city_code"].to_list()
    assert one(agg, "3701", "31")["electricity_kwh"] == 5.0


def test_only_the_requested_day_is_aggregated():
    e = pl.concat(
        [
            energy_rows([(E1, "3701", "26")], day=DAY),
            energy_rows([(E2, "3701", "26")], day=DAY + dt.timedelta(1)),
        ]
    )
    assert one(aggregate_day(duck(e, equipment_rows(e)), DAY), ALL, ALL)["enterprises"] == 1


def test_same_figures_give_the_same_payload_bytes_whatever_the_row_order():
    ents = [
        (f"91370000000000{i:04d}", "3701" if i % 2 else "3702", "26" if i % 3 else "44") for i in range(12)
    ]
    e = energy_rows(ents, seed=3)
    q = equipment_rows(e, seed=3)
    first = payload_bytes(release(aggregate_day(duck(e, q), DAY)).frame)
    again = payload_bytes(
        release(aggregate_day(duck(e.reverse(), q.sample(fraction=1.0, shuffle=True, seed=1)), DAY)).frame
    )
    assert first == again
    changed = e.with_columns(
        pl.when(pl.col("equipment_id") == e["equipment_id"][0])
        .then(pl.col("electricity_kwh") + 1)
        .otherwise(pl.col("electricity_kwh"))
        .alias("electricity_kwh")
    )
    assert payload_bytes(release(aggregate_day(duck(changed, q), DAY)).frame) != first


def test_manifest_names_period_version_schema_rows_hash_and_source_versions():
    payload = b"arrow bytes"
    batch = make_batch(
        province="37",
        period="2026-10-05",
        version=2,
        payload=payload,
        rows=7,
        cells_suppressed=3,
        source_versions={"theme.energy_daily": 12, "theme.equipment_daily": 9},
    )
    m = batch.manifest
    assert batch.batch_id == m["batch_id"] == "37-2026-10-05-v2"
    assert m["payload_sha256"] == sha256(payload) and m["rows"] == 7 and m["schema_version"] == "2"
    assert m["source_versions"] == {"theme.energy_daily": 12, "theme.equipment_daily": 9}
    assert {x["name"] for x in m["measures"]} >= {"energy_tce", "enterprises", "availability_pct"}


def test_a_batch_built_from_a_role_file_names_the_versions_the_file_holds_not_the_lakes(tmp_path):
    """The sync reads a snapshot (the role file, refreshed when it opened): a theme rebuilt meanwhile must
    not be named in the manifest as if its new rows had been read."""
    from assets.sync.sync import build
    from warehouse.serving.refresh import refresh_role_views
    from warehouse.serving.session import connect
    from warehouse.storage import Lake

    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    ents = [(f"91370000000000{i:04d}", "3701", "26") for i in range(5)]
    e = energy_rows(ents, day=DAY, seed=1)
    lake.replace_partition(ENERGY_DAILY, DAY, e, run_id="t1")
    lake.replace_partition(EQUIPMENT_DAILY, DAY, equipment_rows(e, seed=1), run_id="t1")
    refresh_role_views(db, lake)
    held = lake.version(ENERGY_DAILY)
    con = connect(db)
    try:
        first = build(con, lake, DAY)
        rebuilt = e.with_columns(pl.col("electricity_kwh") + 1.0)
        lake.replace_partition(ENERGY_DAILY, DAY, rebuilt, run_id="t2")  # after the file was opened
        assert lake.version(ENERGY_DAILY) > held
        again = build(con, lake, DAY)
    finally:
        con.close()
    assert first.source_versions[ENERGY_DAILY.name] == again.source_versions[ENERGY_DAILY.name] == held
    assert again.payload_sha256 == first.payload_sha256  # what it names is what it read
