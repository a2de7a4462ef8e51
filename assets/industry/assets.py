"""Industry topic library assets: every library of the registry from one builder, per local day, and monthly."""

import datetime as dt

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset, multi_asset

from assets.day_range import DayRange, daily_backfill
from assets.gate import Gated, gate_partition, gate_partitions
from assets.industry.libraries import (
    library_daily,
    library_monthly,
    library_reconciliation,
    read_day,
    read_enterprise_days,
)
from assets.industry.supply_chain import (
    read_supplier_links,
    supply_chain,
    value_between_industries,
)
from assets.metadata import asset_spec, materialized, preview, spec_kwargs
from assets.partitions import daily_local
from assets.resources import LakeResource
from quality.checks import checks_for
from warehouse.contracts import SUPPLIER_LINKS_FILE
from warehouse.registry import (
    ENERGY_DAILY,
    ENTERPRISE,
    EQUIPMENT_DAILY,
    INDUSTRY_LIBRARY_TABLES,
    INDUSTRY_MONTHLY,
    PRODUCTION_ENTERPRISE_DAILY,
    SUPPLIER_LINK,
    SUPPLY_CHAIN_EDGES,
    SUPPLY_CHAIN_NODES,
    TRADE,
)
from warehouse.settings import Settings
from warehouse.storage import Lake

_UPSTREAM = [AssetKey(s.asset_key) for s in (ENERGY_DAILY, EQUIPMENT_DAILY, PRODUCTION_ENTERPRISE_DAILY)]


@multi_asset(
    specs=[
        asset_spec(spec, deps=_UPSTREAM, partitions_def=daily_local)
        for spec in INDUSTRY_LIBRARY_TABLES.values()
    ],
    check_specs=[c for spec in INDUSTRY_LIBRARY_TABLES.values() for c in checks_for(spec, reconciles=True)],
    name="industry_libraries",
    backfill_policy=daily_backfill,
)
def industry_libraries(context: AssetExecutionContext, lake: LakeResource):
    """Each topic library per division x city x local day, from the day's energy, equipment and production."""
    span = DayRange.of(context, upstream=_UPSTREAM)
    for day in span.to_build:
        span.add(day, libraries_day(lake.lake, lake.settings, day, context.run_id))
    yield from span.results(context, [AssetKey(spec.asset_key) for spec in INDUSTRY_LIBRARY_TABLES.values()])


def libraries_day(store: Lake, settings: Settings, day: dt.date, run_id: str) -> list[MaterializeResult]:
    """Every library of one day: one partition replaced per library, all gated in one batch."""
    energy, base = read_day(store, day)
    built = {lib: library_daily(base, lib, day=day) for lib in INDUSTRY_LIBRARY_TABLES}
    versions = {
        lib: store.replace_partition(INDUSTRY_LIBRARY_TABLES[lib], day, df, run_id=run_id)
        for lib, df in built.items()
    }
    gated = [
        Gated(INDUSTRY_LIBRARY_TABLES[lib], df, day.isoformat(), library_reconciliation(energy, lib, df))
        for lib, df in built.items()
    ]
    evaluations = gate_partitions(store, settings, gated, run_id=run_id)
    return [
        MaterializeResult(
            asset_key=g.spec.asset_key,
            metadata=_library_metadata(g.df, versions[lib]),
            check_results=evaluation.check_results,
        )
        for lib, g, evaluation in zip(built, gated, evaluations, strict=True)
    ]


def _library_metadata(df: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": df.height,
        "energy_tce": float(df["energy_tce"].sum() or 0.0),
        "enterprises_reporting": int(df["enterprises_reporting"].sum() or 0),
        "delta_version": version,
        "preview": preview(df),
    }


@asset(
    **spec_kwargs(INDUSTRY_MONTHLY),
    deps=[spec.asset_key for spec in INDUSTRY_LIBRARY_TABLES.values()],
    check_specs=checks_for(INDUSTRY_MONTHLY),
)
def industry_library_monthly(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Every library per month x division x city, ratios from summed components, with MoM and YoY change."""
    store = lake.lake
    daily = {lib: store.read(spec) for lib, spec in INDUSTRY_LIBRARY_TABLES.items()}
    df = library_monthly(daily, read_enterprise_days(store))
    version = store.overwrite(INDUSTRY_MONTHLY, df, run_id=context.run_id)
    evaluation = gate_partition(store, lake.settings, INDUSTRY_MONTHLY, df, run_id=context.run_id)
    by_library = df.group_by("library").agg(pl.col("energy_tce").sum())
    return MaterializeResult(
        metadata={
            "dagster/row_count": df.height,
            "months": df["month"].n_unique(),
            **{f"energy_tce/{lib}": float(v) for lib, v in by_library.iter_rows()},
            "delta_version": version,
            "preview": preview(df),
        },
        check_results=evaluation.check_results,
    )


@multi_asset(
    specs=[
        asset_spec(SUPPLIER_LINK, deps=[ENTERPRISE.asset_key]),
        asset_spec(SUPPLY_CHAIN_EDGES, deps=[SUPPLIER_LINK.asset_key, TRADE.asset_key, ENTERPRISE.asset_key]),
        asset_spec(SUPPLY_CHAIN_NODES, deps=[SUPPLY_CHAIN_EDGES.asset_key]),
    ],
    name="supply_chain",
)
def supply_chain_assets(context: AssetExecutionContext, lake: LakeResource):
    """Declared supplier links and the industry-chain graph (edges and nodes) over them and the trades."""
    store = lake.lake
    golden = store.read(ENTERPRISE).filter(pl.col("valid_to").is_null())
    links = read_supplier_links(lake.settings.landing / "supply" / SUPPLIER_LINKS_FILE, golden["uscc"])
    edges, nodes = supply_chain(links, store.read(TRADE), golden)
    versions = [
        store.overwrite(spec, df, run_id=context.run_id)
        for spec, df in ((SUPPLIER_LINK, links), (SUPPLY_CHAIN_EDGES, edges), (SUPPLY_CHAIN_NODES, nodes))
    ]
    yield materialized(SUPPLIER_LINK, _links_metadata(links, versions[0]))
    yield materialized(SUPPLY_CHAIN_EDGES, _edges_metadata(edges, versions[1]))
    yield materialized(SUPPLY_CHAIN_NODES, {"dagster/row_count": nodes.height, "delta_version": versions[2]})


def _links_metadata(links: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": links.height,
        "delta_version": version,
        "supplier_unknown": int(links["supplier_unknown"].sum() or 0),
    }


def _edges_metadata(edges: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": edges.height,
        "delta_version": version,
        "on_chain_share": float(edges["on_chain"].mean() or 0.0) if edges.height else 0.0,
        "value_between_industries": preview(value_between_industries(edges), rows=15),
    }
