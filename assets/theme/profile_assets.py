"""Enterprise, trading and DCMM theme assets, and the report of enterprises missing from the golden record."""

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, asset, multi_asset

from assets.metadata import asset_spec, preview, spec_kwargs
from assets.resources import LakeResource, WarehouseResource
from assets.theme.plan import plan_progress_of_lake
from assets.theme.profiles import dcmm_theme, profiles_of_lake, trading_daily
from warehouse.registry import (
    DATA_PRODUCT,
    DCMM_ASSESSMENT,
    ENERGY_DAILY,
    ENTERPRISE,
    ENTERPRISE_GAPS,
    EQUIPMENT,
    INDUSTRY_LIBRARY_TABLES,
    PLAN_PROGRESS,
    QUARANTINE_TRADE,
    SILVER_TELEMETRY,
    SYNC_LEDGER,
    THEME_DCMM,
    THEME_ENTERPRISE,
    THEME_TRADING_DAILY,
    TRADE,
)


@asset(
    **spec_kwargs(THEME_TRADING_DAILY),
    deps=[TRADE.asset_key, QUARANTINE_TRADE.asset_key, ENTERPRISE.asset_key],
)
def theme_trading_daily(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    store = lake.lake
    df = trading_daily(store.read(TRADE), store.read(QUARANTINE_TRADE), store.read(ENTERPRISE))
    version = store.overwrite(THEME_TRADING_DAILY, df, run_id=context.run_id)
    warehouse.refresh(store)
    return MaterializeResult(
        metadata={
            "dagster/row_count": df.height,
            "delta_version": version,
            "trades": int(df["trades"].sum() or 0),
            "violations": int(df["violations"].sum() or 0),
            "preview": preview(df),
        }
    )


@asset(**spec_kwargs(THEME_DCMM), deps=[DCMM_ASSESSMENT.asset_key, ENTERPRISE.asset_key])
def theme_dcmm_assessment(
    context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> MaterializeResult:
    store = lake.lake
    df = dcmm_theme(store.read(DCMM_ASSESSMENT), store.read(ENTERPRISE))
    version = store.overwrite(THEME_DCMM, df, run_id=context.run_id)
    warehouse.refresh(store)
    latest = df.filter(pl.col("is_latest"))
    return MaterializeResult(
        metadata={
            "dagster/row_count": df.height,
            "delta_version": version,
            "enterprises_assessed": latest.height,
            "enterprises_level_ge_3": int(latest["level_ge_3"].sum() or 0),
        }
    )


@multi_asset(
    specs=[
        asset_spec(
            THEME_ENTERPRISE,
            deps=[
                ENTERPRISE.asset_key,
                EQUIPMENT.asset_key,
                ENERGY_DAILY.asset_key,
                TRADE.asset_key,
                DCMM_ASSESSMENT.asset_key,
            ],
        ),
        asset_spec(ENTERPRISE_GAPS, deps=[ENTERPRISE.asset_key, SILVER_TELEMETRY.asset_key, TRADE.asset_key]),
    ],
    name="enterprise_profiles",
)
def enterprise_profiles(context: AssetExecutionContext, lake: LakeResource):
    """One profile per enterprise; telemetry and trade parties not in the golden record reported, not dropped."""
    df, gaps = profiles_of_lake(lake.lake)
    v1 = lake.lake.overwrite(THEME_ENTERPRISE, df, run_id=context.run_id)
    v2 = lake.lake.overwrite(ENTERPRISE_GAPS, gaps, run_id=context.run_id)
    if gaps.height:
        context.log.warning(
            f"{gaps.height} enterprises seen in telemetry/trading are not in the golden record"
        )
    yield MaterializeResult(
        asset_key=THEME_ENTERPRISE.asset_key,
        metadata={
            "dagster/row_count": df.height,
            "delta_version": v1,
            "energy_tce_30d": float(df["energy_tce_30d"].sum() or 0.0),
            "preview": preview(df.drop("legal_representative_masked", "phone_masked")),
        },
    )
    yield MaterializeResult(asset_key=ENTERPRISE_GAPS.asset_key, metadata=_gaps_metadata(gaps, v2))


def _gaps_metadata(gaps: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": gaps.height,
        "delta_version": version,
        "telemetry_enterprises_unknown": int((gaps["source"] == "telemetry").sum()),
        "trading_parties_unknown": int((gaps["source"] == "trading").sum()),
        "preview": preview(gaps),
    }


@asset(
    **spec_kwargs(PLAN_PROGRESS),
    deps=[
        s.asset_key
        for s in (
            ENERGY_DAILY,
            THEME_DCMM,
            THEME_TRADING_DAILY,
            DATA_PRODUCT,
            TRADE,
            QUARANTINE_TRADE,
            SYNC_LEDGER,
        )
    ]
    + [s.asset_key for s in INDUSTRY_LIBRARY_TABLES.values()],
)
def theme_plan_progress(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """The plan's KPIs as of the latest built day; each KPI is numeric metadata, so the UI plots it over time."""
    df = plan_progress_of_lake(lake.lake)
    if df is None:
        context.log.info("no energy day built yet: no plan figures")
        return MaterializeResult(metadata={"dagster/row_count": 0})
    version = lake.lake.upsert(PLAN_PROGRESS, df, run_id=context.run_id)
    return MaterializeResult(metadata=_plan_metadata(df, version))


def _plan_metadata(df: pl.DataFrame, version: int) -> dict:
    """Each KPI as numeric metadata, so the UI plots it over time."""
    return {
        "dagster/row_count": df.height,
        "delta_version": version,
        "as_of_day": df["as_of_day"].max().isoformat(),
        **{f"kpi/{k}": float(v) for k, v in df.select("kpi", "value").iter_rows() if v is not None},
        **{
            f"progress_pct/{k}": float(v)
            for k, v in df.select("kpi", "progress_pct").iter_rows()
            if v is not None
        },
        "kpis": preview(df.select("kpi", "value", "target", "unit", "progress_pct"), rows=20),
    }
