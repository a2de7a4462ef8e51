"""Industry topic library assets: every library of the registry from one builder, per local day, and monthly."""

import datetime as dt

import polars as pl
from dagster import AssetExecutionContext, MaterializeResult, asset, multi_asset

from assets.industry.libraries import enterprise_day, library_daily, library_monthly, state_hours
from assets.industry.supply_chain import (
    SUPPLIER_LINKS,
    read_supplier_links,
    supply_chain,
    value_between_industries,
)
from assets.metadata import asset_spec, preview, spec_kwargs
from assets.partitions import daily_local
from assets.resources import LakeResource
from quality.checks import Reconciliation, checks_for, evaluate
from warehouse.domain import INDUSTRY_LIBRARIES
from warehouse.registry import (
    ENERGY_DAILY,
    ENTERPRISE,
    EQUIPMENT_DAILY,
    INDUSTRY_LIBRARY_TABLES,
    INDUSTRY_MONTHLY,
    PRODUCTION_ENTERPRISE_DAILY,
    QUALITY_RESULTS,
    RECONCILIATION,
    SILVER_TELEMETRY,
    SUPPLIER_LINK,
    SUPPLY_CHAIN_EDGES,
    SUPPLY_CHAIN_NODES,
    TRADE,
)

_UPSTREAM = [ENERGY_DAILY.asset_key, EQUIPMENT_DAILY.asset_key, PRODUCTION_ENTERPRISE_DAILY.asset_key]


@multi_asset(
    specs=[
        asset_spec(spec, deps=_UPSTREAM, partitions_def=daily_local)
        for spec in INDUSTRY_LIBRARY_TABLES.values()
    ],
    check_specs=[c for spec in INDUSTRY_LIBRARY_TABLES.values() for c in checks_for(spec, reconciles=True)],
    name="industry_libraries",
)
def industry_libraries(context: AssetExecutionContext, lake: LakeResource):
    """Each topic library per division x city x local day, from the day's energy, equipment and production."""
    day = dt.date.fromisoformat(context.partition_key)
    store = lake.lake
    energy = store.read(ENERGY_DAILY, partition=day)
    # Equipment availability is time-weighted: hours come from the running-state readings (15 min each),
    # which theme.equipment_daily only keeps as a per-equipment ratio.
    states = store.read(
        SILVER_TELEMETRY,
        partition=day,
        where=pl.col("metric") == "running_state",
        columns=["uscc", "value"],
    )
    base = enterprise_day(energy, state_hours(states), store.read(PRODUCTION_ENTERPRISE_DAILY, partition=day))
    recon_rows, results, outputs = [], [], []
    for library, spec in INDUSTRY_LIBRARY_TABLES.items():
        df = library_daily(base, library, day=day)
        version = store.replace_partition(spec, day, df, run_id=context.run_id)
        # Every equipment-day of the library's divisions in theme.energy_daily is counted in one cell.
        landed = energy.filter(pl.col("industry_code").is_in(INDUSTRY_LIBRARIES[library])).height
        recon = Reconciliation(landed, int(df["equipment_reporting"].sum() or 0), 0, 0)
        evaluation = evaluate(
            spec,
            df,
            partition=context.partition_key,
            run_id=context.run_id,
            gx_home=lake.settings.gx_home,
            reconciliation=recon,
        )
        recon_rows.append(recon.row(spec, context.partition_key, context.run_id))
        results.append(evaluation.results)
        outputs.append((spec, df, version, evaluation))
    # One commit per log for the five libraries: each Delta MERGE costs more than the library build.
    store.upsert(RECONCILIATION, pl.concat(recon_rows), run_id=context.run_id)
    store.upsert(QUALITY_RESULTS, pl.concat(results), run_id=context.run_id)
    for spec, df, version, evaluation in outputs:
        yield MaterializeResult(
            asset_key=spec.asset_key,
            metadata={
                "dagster/row_count": df.height,
                "energy_tce": float(df["energy_tce"].sum() or 0.0),
                "enterprises_reporting": int(df["enterprises_reporting"].sum() or 0),
                "delta_version": version,
                "preview": preview(df),
            },
            check_results=evaluation.check_results,
        )


@asset(
    **spec_kwargs(INDUSTRY_MONTHLY),
    deps=[spec.asset_key for spec in INDUSTRY_LIBRARY_TABLES.values()],
    check_specs=checks_for(INDUSTRY_MONTHLY),
)
def industry_library_monthly(context: AssetExecutionContext, lake: LakeResource) -> MaterializeResult:
    """Every library per month x division x city, ratios from summed components, with MoM and YoY change."""
    store = lake.lake
    daily = {lib: store.read(spec) for lib, spec in INDUSTRY_LIBRARY_TABLES.items()}
    cols = ["day", "uscc", "industry_code", "city_code"]
    # Enterprises reporting energy or production; tce only from energy, so nothing is counted twice.
    energy = pl.concat(
        [
            store.read(ENERGY_DAILY, columns=[*cols, "energy_tce"]),
            store.read(PRODUCTION_ENTERPRISE_DAILY, columns=cols).with_columns(
                energy_tce=pl.lit(None, pl.Float64)
            ),
        ]
    )
    df = library_monthly(daily, energy)
    version = store.overwrite(INDUSTRY_MONTHLY, df, run_id=context.run_id)
    evaluation = evaluate(
        INDUSTRY_MONTHLY, df, partition="current", run_id=context.run_id, gx_home=lake.settings.gx_home
    )
    store.upsert(QUALITY_RESULTS, evaluation.results, run_id=context.run_id)
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
    links = read_supplier_links(lake.settings.landing / "supply" / SUPPLIER_LINKS, golden["uscc"])
    edges, nodes = supply_chain(links, store.read(TRADE), golden)
    versions = [
        store.overwrite(spec, df, run_id=context.run_id)
        for spec, df in ((SUPPLIER_LINK, links), (SUPPLY_CHAIN_EDGES, edges), (SUPPLY_CHAIN_NODES, nodes))
    ]
    yield MaterializeResult(
        asset_key=SUPPLIER_LINK.asset_key,
        metadata={
            "dagster/row_count": links.height,
            "delta_version": versions[0],
            "supplier_unknown": int(links["supplier_unknown"].sum() or 0),
        },
    )
    yield MaterializeResult(
        asset_key=SUPPLY_CHAIN_EDGES.asset_key,
        metadata={
            "dagster/row_count": edges.height,
            "delta_version": versions[1],
            "on_chain_share": float(edges["on_chain"].mean() or 0.0) if edges.height else 0.0,
            "value_between_industries": preview(value_between_industries(edges), rows=15),
        },
    )
    yield MaterializeResult(
        asset_key=SUPPLY_CHAIN_NODES.asset_key,
        metadata={"dagster/row_count": nodes.height, "delta_version": versions[2]},
    )
