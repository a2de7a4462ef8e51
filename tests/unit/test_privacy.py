"""Personal data: masked in every theme table and every DuckDB view; the masks themselves."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from warehouse.privacy import mask_name, mask_phone, mask_sql, mask_values


def test_masks_keep_only_what_identifies_nobody():
    df = pl.DataFrame({"n": ["张三", "欧阳娜娜", None], "p": ["13812341234", "0531-8888666", None]})
    out = df.select(mask_name("n"), mask_phone("p"))
    assert out["n"].to_list() == ["张*", "欧***", None]
    assert out["p"].to_list() == ["138****1234", "053****8666", None]


def test_sql_masks_agree_with_polars_masks():
    import duckdb

    con = duckdb.connect()
    got = con.sql(
        f"SELECT {mask_sql('name', 'n')} AS n, {mask_sql('phone', 'p')} AS p, {mask_sql('id_number', 'i')} AS i "
        "FROM (SELECT '张三' AS n, '13812341234' AS p, '370102199001011234' AS i)"
    ).fetchone()
    assert got == ("张*", "138****1234", "370102********1234")


def test_payload_masking():
    assert mask_values({"法定代表人": "李四", "x": 1}, {"法定代表人": "name"}) == {
        "法定代表人": "李*",
        "x": 1,
    }


def test_no_clear_personal_data_in_any_theme_table_or_view(tmp_path):
    """Build the golden record, quarantine and themes of a simulated province; no name or phone in clear."""
    from assets.enterprise.golden import build_registry
    from assets.theme.profiles import dcmm_theme, enterprise_profile, trading_daily
    from assets.trading.circulation import circulate, read_products, read_trades
    from simulator import generate
    from warehouse.registry import (
        DCMM_ASSESSMENT,
        ENTERPRISE,
        QUARANTINE_ENTERPRISE,
        QUARANTINE_TRADE,
        TABLES,
        THEME_DCMM,
        THEME_ENTERPRISE,
        THEME_TRADING_DAILY,
        TRADE,
    )
    from warehouse.serving.refresh import refresh_views
    from warehouse.serving.session import connect
    from warehouse.storage import Lake

    generate(
        tmp_path / "landing", tmp_path / "m.json", enterprises=20, days=1, start=dt.date(2026, 11, 1), seed=9
    )
    lake = Lake(tmp_path / "lake")
    build = build_registry(tmp_path / "landing" / "registry")
    for day, state in build.snapshots:
        lake.scd2_merge(ENTERPRISE, state, as_of=day, run_id="t")
    lake.overwrite(QUARANTINE_ENTERPRISE, build.quarantined, run_id="t")
    lake.overwrite(DCMM_ASSESSMENT, build.assessments, run_id="t")
    folder = tmp_path / "landing" / "trading"
    enterprises = lake.read(ENTERPRISE)
    trades = circulate(read_trades(folder), read_products(folder), enterprises["uscc"])
    lake.overwrite(TRADE, trades.clean, run_id="t")
    lake.overwrite(QUARANTINE_TRADE, trades.quarantined, run_id="t")
    energy = pl.DataFrame(schema={"day": pl.Date, "uscc": pl.String, "energy_tce": pl.Float64})
    equipment = pl.DataFrame(schema={"uscc": pl.String, "equipment_id": pl.String})
    lake.overwrite(
        THEME_ENTERPRISE,
        enterprise_profile(enterprises, equipment, energy, trades.clean, build.assessments),
        run_id="t",
    )
    lake.overwrite(
        THEME_TRADING_DAILY, trading_daily(trades.clean, trades.quarantined, enterprises), run_id="t"
    )
    lake.overwrite(THEME_DCMM, dcmm_theme(build.assessments, enterprises), run_id="t")

    names = set(enterprises["legal_representative"]) - {None}
    phones = set(enterprises["phone"]) - {None}
    assert names and phones
    clear = re.compile("|".join(map(re.escape, sorted(names | phones, key=len, reverse=True))))

    def leaks(df: pl.DataFrame) -> list[str]:
        text = [str(v) for c in df.columns if df.schema[c] == pl.String for v in df[c].to_list() if v]
        return [t for t in text if clear.search(t)]

    for spec in TABLES.values():
        if spec.layer == "theme" and lake.exists(spec):
            assert not leaks(lake.read(spec)), spec.name
    db = tmp_path / "w.duckdb"
    created = refresh_views(db, lake)
    assert "silver.enterprise" in created and "theme.enterprise" in created
    con = connect(db, read_only=True)
    try:
        for view in created:
            assert not leaks(con.sql(f"SELECT * FROM {view}").pl()), view
        masked = con.sql("SELECT legal_representative, phone FROM silver.enterprise LIMIT 1").fetchone()
        assert masked[0].endswith("*") and "****" in masked[1]
    finally:
        con.close()
