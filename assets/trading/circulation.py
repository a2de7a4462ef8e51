"""Trading platform exports -> silver.data_product, silver.trade, quarantine.trade.

Register first, then circulate (先登记再流通): `register_before_circulate` quarantines a trade whose product
was never registered, was registered after the trade, was revoked or had expired at the trade, or is of
grade 3 (the rules are declared once in quality.rules.TRADE_ROW_RULES; the first failing one is the reason).
Buyers and sellers missing from the golden record are kept and flagged, not dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from assets.gate import Gated
from assets.identifier.issue import product_handles
from quality.checks import Reconciliation
from quality.rules import TRADE_ROW_RULES, first_failed_rule
from warehouse.domain import TIMEZONE
from warehouse.identifiers import DEFAULT_NODE
from warehouse.registry import DATA_PRODUCT, QUARANTINE_TRADE, TRADE

TRADES_SOURCE = "trading/trades.csv"  # the export every trade lands in, relative to landing/
_TS_FORMATS = ("%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%d %H:%M:%S%:z")


def parse_ts(col: str) -> pl.Expr:
    """ISO 8601 with offset -> UTC; local time without offset is read as Asia/Shanghai; empty -> null."""
    e = pl.col(col).str.strip_chars().replace("", None)
    with_offset = pl.coalesce([e.str.to_datetime(f, strict=False, time_zone="UTC") for f in _TS_FORMATS])
    naive = (
        e.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False)
        .dt.replace_time_zone(TIMEZONE)
        .dt.convert_time_zone("UTC")
    )
    return pl.coalesce(with_offset, naive).dt.cast_time_unit("us")


def _read_csv(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path}: expected the trading platform export (run `lakehouse generate`)")
    return (
        pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
        .with_row_index("line_no", offset=2)
        .with_columns(pl.col("line_no").cast(pl.Int64))
    )


def read_products(folder: Path) -> pl.DataFrame:
    """silver.data_product: products typed, with their first listing and lowest listed price."""
    products = _read_csv(folder / "products.csv").with_columns(
        grade=pl.col("grade").cast(pl.Int64, strict=False),
        registration_no=pl.col("registration_no").str.strip_chars().replace("", None),
        registered_at=parse_ts("registered_at"),
        revoked_at=parse_ts("revoked_at"),
        expired_at=parse_ts("expired_at"),
    )
    listings_path = folder / "listings.csv"
    if listings_path.exists():
        listings = (
            _read_csv(listings_path)
            .group_by("product_id")
            .agg(
                listed_at=parse_ts("listed_at").min(),
                list_price_cny=pl.col("price_cny").cast(pl.Float64, strict=False).min(),
            )
        )
        products = products.join(listings, on="product_id", how="left")
    else:
        products = products.with_columns(
            listed_at=pl.lit(None, DATA_PRODUCT.schema["listed_at"]), list_price_cny=pl.lit(None, pl.Float64)
        )
    return (
        products.unique("product_id", keep="last")
        .select(list(DATA_PRODUCT.schema))
        .cast(dict(DATA_PRODUCT.schema))
        .sort("product_id")
    )


def read_trades(folder: Path) -> pl.DataFrame:
    return (
        _read_csv(folder / "trades.csv")
        .with_columns(
            amount_cny=pl.col("amount_cny").cast(pl.Float64, strict=False),
            quantity=pl.col("quantity").cast(pl.Int64, strict=False),
            executed_at=parse_ts("executed_at"),
        )
        .with_columns(day=pl.col("executed_at").dt.convert_time_zone(TIMEZONE).dt.date())
    )


@dataclass
class Circulation:
    clean: pl.DataFrame
    quarantined: pl.DataFrame
    reasons: dict[str, int]
    flagged: int

    def reconciliation(self, landed: int) -> Reconciliation:
        """Every landed trade is clean or quarantined (the platform's export has no duplicates)."""
        return Reconciliation(landed, self.clean.height, self.quarantined.height, 0)

    def gated(self, landed: int) -> Gated:
        """What silver.trade's checks see: the clean trades, reconciled against the platform's one export
        file, with the row rules' counts."""
        return Gated(
            TRADE,
            self.clean,
            sources={TRADES_SOURCE: self.reconciliation(landed)},
            checks={"row_rule_counts": self.reasons},
        )


def register_before_circulate(
    trades: pl.DataFrame, products: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(clean, quarantined): a trade circulates only a product registered before it, still valid, not grade 3."""
    joined = trades.join(
        products.select(
            "product_id", "registration_no", "registered_at", "revoked_at", "expired_at", "grade"
        ),
        on="product_id",
        how="left",
    ).with_columns(reason=first_failed_rule(TRADE_ROW_RULES))
    return joined.filter(pl.col("reason").is_null()), joined.filter(pl.col("reason").is_not_null())


def circulate(
    trades: pl.DataFrame,
    products: pl.DataFrame,
    golden_usccs: pl.Series,
    *,
    node: str = DEFAULT_NODE,
    issued: pl.DataFrame | None = None,
) -> Circulation:
    """Trades split by register-before-circulate; clean trades flagged when a party is not in the golden
    record, and carrying their product's identifier handle (silver.identifier's, `issued`, when it has one)."""
    clean, bad = register_before_circulate(trades, products)
    known = golden_usccs.unique().to_list()
    clean = (
        clean.with_columns(
            counterparty_unknown=~(pl.col("buyer_uscc").is_in(known) & pl.col("seller_uscc").is_in(known))
        )
        .join(product_handles(products, issued, node=node), on="product_id", how="left")
        .select(list(TRADE.schema))
        .cast(dict(TRADE.schema))
        .sort("trade_id")
    )
    bad = QUARANTINE_TRADE.conform(bad).sort("trade_id")
    reasons = dict(bad.group_by("reason").len().sort("reason").iter_rows())
    return Circulation(clean, bad, reasons, int(clean["counterparty_unknown"].sum() or 0))
