"""Trading rules: register before circulate (先登记再流通), and the trade table's checks."""

from __future__ import annotations

import polars as pl

from quality.rules.spec import Expectation, Rule
from warehouse.registry import DCMM_ASSESSMENT, TRADE

# Register first, then circulate (先登记再流通): a trade of a product must find it registered, before
# the trade, not revoked or expired at the trade, and not of grade 3.
TRADE_ROW_RULES: tuple[Rule, ...] = (
    Rule(
        "trade_malformed",
        TRADE.name,
        "The trade carries ids, an amount and an execution time with offset.",
        row_check=lambda: pl.col("executed_at").is_not_null() & pl.col("amount_cny").is_not_null(),
    ),
    Rule(
        "product_not_registered",
        TRADE.name,
        "The product exists and holds a registration certificate.",
        row_check=lambda: pl.col("registration_no").is_not_null(),
    ),
    Rule(
        "registered_after_trade",
        TRADE.name,
        "The product was registered before the trade.",
        row_check=lambda: pl.col("registered_at") <= pl.col("executed_at"),
    ),
    Rule(
        "product_revoked",
        TRADE.name,
        "The registration was not revoked at the trade.",
        row_check=lambda: pl.col("revoked_at").is_null() | (pl.col("revoked_at") > pl.col("executed_at")),
    ),
    Rule(
        "product_expired",
        TRADE.name,
        "The registration had not expired at the trade.",
        row_check=lambda: pl.col("expired_at").is_null() | (pl.col("expired_at") > pl.col("executed_at")),
    ),
    Rule(
        "grade_3_not_tradable",
        TRADE.name,
        "Grade-3 (core) data never circulates.",
        row_check=lambda: pl.col("grade") < 3,
    ),
)


TRADE_TABLE_RULES: tuple[Rule, ...] = (
    Rule(
        "trade_id_unique",
        TRADE.name,
        "One row per trade id.",
        expectation=Expectation("ExpectColumnValuesToBeUnique", {"column": "trade_id"}),
    ),
    Rule(
        "trade_amount_positive",
        TRADE.name,
        "Trade amounts are positive.",
        expectation=Expectation("ExpectColumnValuesToBeBetween", {"column": "amount_cny", "min_value": 0}),
    ),
    Rule(
        "dcmm_level_in_range",
        DCMM_ASSESSMENT.name,
        "DCMM levels are 1-5.",
        expectation=Expectation(
            "ExpectColumnValuesToBeBetween", {"column": "level", "min_value": 1, "max_value": 5}
        ),
    ),
)
