"""Trading assets: platform exports -> products, trades (register before circulate), quarantine."""

from dagster import AssetExecutionContext, MaterializeResult, multi_asset

from assets.enterprise.golden import current
from assets.metadata import asset_spec, counts_table, preview
from assets.reconcile import record
from assets.resources import LakeResource, WarehouseResource
from assets.trading.circulation import circulate, read_products, read_trades
from quality.checks import Reconciliation, checks_for, evaluate
from warehouse.registry import DATA_PRODUCT, ENTERPRISE, IDENTIFIER, QUALITY_RESULTS, QUARANTINE_TRADE, TRADE


@multi_asset(
    specs=[
        asset_spec(DATA_PRODUCT),
        asset_spec(TRADE, deps=[DATA_PRODUCT.asset_key, ENTERPRISE.asset_key]),
        asset_spec(QUARANTINE_TRADE, deps=[DATA_PRODUCT.asset_key]),
    ],
    check_specs=checks_for(TRADE, reconciles=True),
    name="trading",
)
def trading(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
    """Products and trades from the platform; a trade circulates only a registered, valid, non-grade-3 product."""
    store, folder = lake.lake, lake.settings.landing / "trading"
    products, trades = read_products(folder), read_trades(folder)
    result = circulate(
        trades,
        products,
        current(store.read(ENTERPRISE, columns=["uscc", "valid_to"]))["uscc"],
        node=lake.settings.identifier_node,
        issued=store.read(IDENTIFIER) if store.exists(IDENTIFIER) else None,
    )
    versions = [
        store.overwrite(spec, df, run_id=context.run_id)
        for spec, df in (
            (DATA_PRODUCT, products),
            (TRADE, result.clean),
            (QUARANTINE_TRADE, result.quarantined),
        )
    ]
    recon = Reconciliation(trades.height, result.clean.height, result.quarantined.height, 0)
    record(store, TRADE, {"trading/trades.csv": recon}, context.run_id)
    evaluation = evaluate(
        TRADE,
        result.clean,
        partition="current",
        run_id=context.run_id,
        gx_home=lake.settings.gx_home,
        reconciliation=recon,
        row_rule_counts=result.reasons,
        evaluated=trades.height,
    )
    store.upsert(QUALITY_RESULTS, evaluation.results, run_id=context.run_id)
    warehouse.refresh(store)
    yield MaterializeResult(
        asset_key=DATA_PRODUCT.asset_key,
        metadata={
            "dagster/row_count": products.height,
            "registered": int(products["registration_no"].is_not_null().sum()),
            "grade_3": int((products["grade"] == 3).sum()),
            "delta_version": versions[0],
            "preview": preview(products),
        },
    )
    yield MaterializeResult(
        asset_key=TRADE.asset_key,
        metadata={
            "dagster/row_count": result.clean.height,
            "landed": trades.height,
            "counterparty_unknown": result.flagged,
            "value_cny": float(result.clean["amount_cny"].sum() or 0.0),
            "delta_version": versions[1],
        },
        check_results=evaluation.check_results,
    )
    yield MaterializeResult(
        asset_key=QUARANTINE_TRADE.asset_key,
        metadata={
            "dagster/row_count": result.quarantined.height,
            "by_reason": counts_table(result.reasons),
            **{f"reason/{k}": v for k, v in result.reasons.items()},
            "delta_version": versions[2],
        },
    )
