"""The plan's KPIs from hand-built tables: windows, latest assessments, pilots, registrations, progress."""

import datetime as dt

import polars as pl
import pytest

from assets.theme.plan import KPIS, plan_progress
from warehouse.registry import DATA_PRODUCT, PLAN_PROGRESS

AS_OF = dt.date(2026, 11, 30)
UTC = dt.UTC


def products() -> pl.DataFrame:
    base = {c: None for c in DATA_PRODUCT.schema} | {"provider_uscc": "X", "title": "t", "grade": 1}
    rows = [
        base
        | {"product_id": "P1", "registration_no": "R1", "registered_at": dt.datetime(2026, 1, 1, tzinfo=UTC)},
        base
        | {
            "product_id": "P2",
            "registration_no": "R2",
            "registered_at": dt.datetime(2026, 1, 1, tzinfo=UTC),
            "revoked_at": dt.datetime(2026, 6, 1, tzinfo=UTC),
        },
        base
        | {
            "product_id": "P3",
            "registration_no": "R3",
            "registered_at": dt.datetime(2026, 12, 5, tzinfo=UTC),
        },
        base | {"product_id": "P4"},  # never registered
    ]
    return pl.DataFrame(rows, schema=DATA_PRODUCT.schema)


def kpis(**overrides) -> dict:
    args = {
        "energy": pl.DataFrame(
            {
                "day": [AS_OF, AS_OF, AS_OF - dt.timedelta(days=29), AS_OF - dt.timedelta(days=30)],
                "uscc": ["A", "A", "B", "C"],  # C reported 30 days before: outside the window
                "equipment_id": ["A1", "A2", "B1", "C1"],
            }
        ),
        "dcmm": pl.DataFrame(
            {
                "uscc": ["A", "A", "B", "C"],
                "assessed_on": [
                    dt.date(2025, 1, 1),
                    dt.date(2026, 3, 1),
                    dt.date(2026, 1, 1),
                    dt.date(2026, 12, 1),
                ],
                "level": [2, 3, 4, 5],  # A's latest is 3; C's assessment is after the as-of day
            }
        ),
        "trading": pl.DataFrame(
            {
                "day": [AS_OF, AS_OF, AS_OF - dt.timedelta(days=40)],
                "industry_code": ["26", "44", "31"],  # chemicals, power & energy; metallurgy too long ago
                "trades": [2, 1, 5],
            }
        ),
        "products": products(),
        "trades": pl.DataFrame({"day": [AS_OF] * 9}),
        "trades_quarantined": pl.DataFrame(
            {"day": [AS_OF, None, AS_OF + dt.timedelta(days=1)]}, schema={"day": pl.Date}
        ),
        "industry_days": {"chemicals": [AS_OF], "metallurgy": [AS_OF - dt.timedelta(days=1)], "textiles": []},
        "synced_periods": ["2026-11-28", "2026-11-29", "2026-11-29", "2026-12-01"],
    } | overrides
    df = plan_progress(AS_OF, **args)
    assert df.schema == PLAN_PROGRESS.schema and df.height == len(KPIS)
    return {r["kpi"]: r for r in df.iter_rows(named=True)}


def test_kpis_count_what_the_lake_holds_up_to_the_as_of_day():
    k = kpis()
    assert k["enterprises_collecting"]["value"] == 2 and k["enterprises_collecting"]["target"] == 1000
    assert k["enterprises_collecting"]["progress_pct"] == pytest.approx(0.2)
    assert k["equipment_connected"]["value"] == 3 and k["equipment_connected"]["progress_pct"] is None
    assert k["dcmm_level_3_plus"]["value"] == 2  # A (latest 3) and B (4); C not yet assessed
    assert k["trading_pilots_active"]["value"] == 2 and k["trading_pilots_active"]["target"] == 3
    assert k["data_products_registered"]["value"] == 1  # P2 revoked, P3 later, P4 never
    assert k["register_before_circulate_pct"]["value"] == pytest.approx(100 * 9 / 11, abs=0.01)
    assert k["industry_libraries_built"]["value"] == 1
    assert k["days_synced_to_national_center"]["value"] == 2


def test_no_trades_gives_no_compliance_figure_rather_than_a_false_100():
    empty = pl.DataFrame({"day": []}, schema={"day": pl.Date})
    k = kpis(trades=empty, trades_quarantined=empty)
    assert k["register_before_circulate_pct"]["value"] is None
    assert k["register_before_circulate_pct"]["progress_pct"] is None


def test_the_html_directory_shows_each_kpi_with_its_history(tmp_path):
    from warehouse.catalog.site import export_html

    days = [AS_OF - dt.timedelta(days=2), AS_OF]
    plan = pl.concat([plan_progress(d, **{k: v for k, v in _inputs().items()}) for d in days])
    datasets = pl.DataFrame(
        {
            "table_name": [],
            "layer": [],
            "data_domain": [],
            "grade": [],
            "row_count": [],
            "pass_rate": [],
            "description": [],
        },
        schema={
            "table_name": pl.String,
            "layer": pl.String,
            "data_domain": pl.String,
            "grade": pl.Int64,
            "row_count": pl.Int64,
            "pass_rate": pl.Float64,
            "description": pl.String,
        },
    )
    (index,) = export_html(
        datasets, pl.DataFrame({"table_name": []}, schema={"table_name": pl.String}), tmp_path, plan
    )
    text = index.read_text()
    assert f"Plan progress (as of {AS_OF})" in text
    with_values = plan.filter(pl.col("value").is_not_null())["kpi"].n_unique()
    assert text.count("<svg") == with_values >= len(KPIS) - 1
    assert "dcmm_level_3_plus" in text and "stroke-dasharray" in text


def _inputs() -> dict:
    empty = pl.DataFrame({"day": []}, schema={"day": pl.Date})
    return {
        "energy": pl.DataFrame({"day": [AS_OF], "uscc": ["A"], "equipment_id": ["A1"]}),
        "dcmm": pl.DataFrame({"uscc": ["A"], "assessed_on": [dt.date(2026, 1, 1)], "level": [3]}),
        "trading": pl.DataFrame({"day": [AS_OF], "industry_code": ["26"], "trades": [1]}),
        "products": products(),
        "trades": empty,
        "trades_quarantined": empty,
        "industry_days": {},
        "synced_periods": [],
    }
