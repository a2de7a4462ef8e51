"""The data trading platform: registered data products, trades (register before circulate) and the trading theme."""

from __future__ import annotations

import polars as pl

from warehouse.registry.spec import UTC_TS, TableSpec, cols

_TRADE_COLS = (
    ("trade_id", pl.String, "Trade id on the platform"),
    ("product_id", pl.String, "Data product traded"),
    ("seller_uscc", pl.String, "Seller (provider) USCC"),
    ("buyer_uscc", pl.String, "Buyer USCC"),
    ("amount_cny", pl.Float64, "Contract amount, CNY"),
    ("quantity", pl.Int64, "Units bought"),
    ("executed_at", UTC_TS, "Execution time (UTC; landed with +08:00)"),
    ("day", pl.Date, "Local day (Asia/Shanghai) of execution"),
    ("contract_hash", pl.String, "Hash of the contract document"),
)


DATA_PRODUCT = TableSpec(
    name="silver.data_product",
    description="Data products on the trading platform with their registration (先登记再流通) and listing.",
    domain="external",
    grade=1,
    owner="data-trading",
    key=("product_id",),
    columns=cols(
        ("product_id", pl.String, "Product id"),
        ("provider_uscc", pl.String, "Providing enterprise"),
        ("title", pl.String, "Title"),
        ("data_domain", pl.String, "MIIT data domain of the product's content"),
        ("grade", pl.Int64, "Grade of the product's content 1/2/3 (3 may not be traded)"),
        (
            "registration_no",
            pl.String,
            "Data product registration certificate number; null when never registered",
        ),
        ("registered_at", UTC_TS, "Registration time"),
        ("revoked_at", UTC_TS, "Registration revoked at"),
        ("expired_at", UTC_TS, "Registration expired at"),
        ("listed_at", UTC_TS, "First listing on the platform"),
        ("list_price_cny", pl.Float64, "Lowest listed price"),
    ),
)


TRADE = TableSpec(
    name="silver.trade",
    description="Trades of registered data products that passed register-before-circulate; unknown counterparties flagged.",
    domain="external",
    grade=2,
    owner="data-trading",
    key=("trade_id",),
    columns=cols(
        *_TRADE_COLS,
        ("counterparty_unknown", pl.Boolean, "Buyer or seller is not in the golden record (kept, flagged)"),
        ("product_handle", pl.String, "Identifier handle of the product traded (silver.identifier)"),
    ),
)


QUARANTINE_TRADE = TableSpec(
    name="quarantine.trade",
    description="Trades that violate register-before-circulate, with the rule that failed.",
    domain="external",
    grade=2,
    owner="data-trading",
    key=("trade_id",),
    columns=cols(
        ("reason", pl.String, "Reason code = id of the quality rule that failed"),
        *_TRADE_COLS,
        ("line_no", pl.Int64, "Line in trades.csv (header = 1)"),
    ),
)


THEME_TRADING_DAILY = TableSpec(
    name="theme.trading_daily",
    description="Data trading per seller industry x city x local day: trades, value, distinct parties, violations.",
    domain="external",
    grade=1,
    owner="trading-theme",
    key=("day", "industry_code", "city_code"),
    cluster_by=("day", "industry_code"),
    columns=cols(
        ("day", pl.Date, "Local day [00:00, 24:00) Asia/Shanghai"),
        ("industry_code", pl.String, "Seller's GB/T 4754 division ('unknown' when not in the golden record)"),
        ("city_code", pl.String, "Seller's prefecture ('unknown' when not in the golden record)"),
        ("trades", pl.Int64, "Clean trades"),
        ("value_cny", pl.Float64, "Value of clean trades, CNY"),
        ("distinct_buyers", pl.Int64, "Distinct buyers"),
        ("distinct_sellers", pl.Int64, "Distinct sellers"),
        ("violations", pl.Int64, "Trades quarantined by register-before-circulate"),
    ),
)
