"""Register first, then circulate (先登记再流通): one test per violation, and the flag on unknown parties."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets.trading.circulation import TRADES_SOURCE, circulate, parse_ts, register_before_circulate
from quality.checks import Reconciliation
from quality.rules import TRADE_ROW_RULES
from warehouse.registry import TRADE

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
A, B, C = "914403001922038216", "91370102MA0000000X", "91370102MA9999999Y"


def _products(**over) -> pl.DataFrame:
    base = {
        "product_id": "P1",
        "registration_no": "鲁数登字〔2026〕000001号",
        "registered_at": T0 - dt.timedelta(days=30),
        "revoked_at": None,
        "expired_at": None,
        "grade": 1,
    }
    base.update(over)
    return pl.DataFrame(
        [base],
        schema={
            "product_id": pl.String,
            "registration_no": pl.String,
            "registered_at": pl.Datetime("us", "UTC"),
            "revoked_at": pl.Datetime("us", "UTC"),
            "expired_at": pl.Datetime("us", "UTC"),
            "grade": pl.Int64,
        },
    )


def _trades(product_id="P1", buyer=B) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "trade_id": "T1",
                "product_id": product_id,
                "seller_uscc": A,
                "buyer_uscc": buyer,
                "amount_cny": 100.0,
                "quantity": 1,
                "executed_at": T0,
                "day": T0.date(),
                "contract_hash": "h",
                "line_no": 2,
            }
        ],
        schema_overrides={"executed_at": pl.Datetime("us", "UTC")},
    )


def _reason(products, trades=None):
    clean, bad = register_before_circulate(trades if trades is not None else _trades(), products)
    return bad["reason"].item() if bad.height else None


def test_registered_valid_product_circulates():
    assert _reason(_products()) is None


def test_never_registered_product_is_quarantined():
    assert _reason(_products(registration_no=None, registered_at=None)) == "product_not_registered"


def test_unknown_product_is_quarantined_as_not_registered():
    assert _reason(_products(), _trades(product_id="P404")) == "product_not_registered"


def test_registered_after_the_trade_is_quarantined():
    assert _reason(_products(registered_at=T0 + dt.timedelta(seconds=1))) == "registered_after_trade"


@pytest.mark.parametrize(
    "field,reason", [("revoked_at", "product_revoked"), ("expired_at", "product_expired")]
)
def test_revoked_or_expired_at_trade_time_is_quarantined(field, reason):
    assert _reason(_products(**{field: T0})) == reason
    assert _reason(_products(**{field: T0 + dt.timedelta(hours=1)})) is None  # revoked later: fine then


def test_grade_3_product_never_circulates():
    assert _reason(_products(grade=3)) == "grade_3_not_tradable"
    assert _reason(_products(grade=2)) is None


def test_first_failing_rule_is_the_reason():
    assert _reason(_products(grade=3, registered_at=T0 + dt.timedelta(days=1))) == "registered_after_trade"
    assert [r.id for r in TRADE_ROW_RULES][1:] == [
        "product_not_registered",
        "registered_after_trade",
        "product_revoked",
        "product_expired",
        "grade_3_not_tradable",
    ]


def test_unknown_counterparty_is_kept_and_flagged():
    known = pl.Series([A, B])
    assert circulate(_trades(), _products(), known).clean["counterparty_unknown"].to_list() == [False]
    result = circulate(_trades(buyer=C), _products(), known)
    assert result.clean.height == 1 and result.flagged == 1 and result.quarantined.is_empty()


def test_offsets_are_read_as_utc_and_naive_as_shanghai():
    df = pl.DataFrame({"t": ["2026-11-02T10:00:00+08:00", "2026-11-02 10:00:00", "", "garbage"]})
    got = df.select(parse_ts("t"))["t"].to_list()
    assert got[0] == got[1] == T0 and got[2] is None and got[3] is None


def test_simulated_trades_match_ground_truth(tmp_path):
    from assets.trading.circulation import read_products, read_trades
    from simulator import generate

    m = generate(
        tmp_path / "landing", tmp_path / "m.json", enterprises=20, days=3, start=dt.date(2026, 11, 1), seed=5
    )
    folder = tmp_path / "landing" / "trading"
    result = circulate(read_trades(folder), read_products(folder), pl.Series(m["registry"]["golden_usccs"]))
    assert result.reasons == {k: v for k, v in m["trading"]["quarantined"].items() if v}
    assert result.clean.height == m["trading"]["clean"]
    assert result.flagged == m["trading"]["counterparty_unknown_flagged"]


def test_trades_checks_reconcile_the_platform_export_and_get_the_row_rule_counts():
    trades = pl.concat([_trades(), _trades(product_id="P9").with_columns(trade_id=pl.lit("T2"))])
    result = circulate(trades, _products(), pl.Series([A, B]))
    gated = result.gated(trades.height)
    assert gated.spec == TRADE and gated.df.height == 1
    assert gated.sources == {TRADES_SOURCE: Reconciliation(2, 1, 1, 0)}
    assert gated.checks == {"row_rule_counts": result.reasons} and sum(result.reasons.values()) == 1
