"""Trading assets: platform exports -> products, trades (register before circulate), quarantine."""

import polars as pl
from dagster import AssetExecutionContext, multi_asset

from assets.enterprise.golden import current
from assets.gate import gate_partitions
from assets.metadata import asset_spec, materialized, preview, quarantine_metadata
from assets.resources import LakeResource, WarehouseResource
from assets.trading.circulation import Circulation, circulate, read_products, read_trades
from assets.writes import overwrite_each
from quality.checks import checks_for
from warehouse.registry import DATA_PRODUCT, ENTERPRISE, IDENTIFIER, QUARANTINE_TRADE, TRADE


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
    store, settings = lake.lake, lake.settings
    products, trades = read_products(settings.landing / "trading"), read_trades(settings.landing / "trading")
    result = circulate(
        trades,
        products,
        current(store.read(ENTERPRISE, columns=["uscc", "valid_to"]))["uscc"],
        node=settings.identifier_node,
        issued=store.read(IDENTIFIER) if store.exists(IDENTIFIER) else None,
    )
    frames = [(DATA_PRODUCT, products), (TRADE, result.clean), (QUARANTINE_TRADE, result.quarantined)]
    versions = overwrite_each(store, frames, run_id=context.run_id)
    (evaluation,) = gate_partitions(store, settings, [result.gated(trades.height)], run_id=context.run_id)
    warehouse.refresh(store)
    yield materialized(DATA_PRODUCT, _products_metadata(products, versions[0]))
    yield materialized(TRADE, _trades_metadata(result, trades.height, versions[1]), evaluation)
    yield materialized(QUARANTINE_TRADE, quarantine_metadata(result.quarantined, result.reasons, versions[2]))


def _products_metadata(products: pl.DataFrame, version: int) -> dict:
    return {
        "dagster/row_count": products.height,
        "registered": int(products["registration_no"].is_not_null().sum()),
        "grade_3": int((products["grade"] == 3).sum()),
        "delta_version": version,
        "preview": preview(products),
    }


def _trades_metadata(result: Circulation, landed: int, version: int) -> dict:
    return {
        "dagster/row_count": result.clean.height,
        "landed": landed,
        "counterparty_unknown": result.flagged,
        "value_cny": float(result.clean["amount_cny"].sum() or 0.0),
        "delta_version": version,
    }
