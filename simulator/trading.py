"""Data trading platform exports of the simulated province: products, listings and trades.

Register first, then circulate (先登记再流通): the ground truth says which trades a correct pipeline
quarantines and why (first failing rule in this order): product_not_registered, registered_after_trade,
product_revoked, product_expired, grade_3_not_tradable; trades whose buyer or seller is not in the
golden record are kept but flagged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from simulator.formats import write_csv
from warehouse.codes import USCC_CHARSET, make_uscc
from warehouse.domain import DATA_DOMAINS, TIMEZONE

_TZ = ZoneInfo(TIMEZONE)
PRODUCT_FIELDS = (
    "product_id",
    "provider_uscc",
    "title",
    "data_domain",
    "grade",
    "registration_no",
    "registered_at",
    "revoked_at",
    "expired_at",
)
LISTING_FIELDS = ("listing_id", "product_id", "price_cny", "listed_at")
TRADE_FIELDS = (
    "trade_id",
    "product_id",
    "seller_uscc",
    "buyer_uscc",
    "amount_cny",
    "quantity",
    "executed_at",
    "contract_hash",
)
TRADE_REASONS = (
    "product_not_registered",
    "registered_after_trade",
    "product_revoked",
    "product_expired",
    "grade_3_not_tradable",
)
_TITLES = (
    "设备运行工况数据集",
    "园区能耗月度统计",
    "化工工艺参数样本",
    "供应链物流时效数据",
    "钢铁产线质量检测数据",
    "电力负荷曲线",
    "售后服务工单数据",
    "装备故障诊断样本",
)
# Product kinds and the share of products of each kind.
_KINDS = ("clean", "clean", "clean", "never_registered", "registered_late", "revoked", "expired", "grade_3")


def _iso(t: dt.datetime) -> str:
    return t.astimezone(_TZ).isoformat(timespec="seconds")


def expected_reason(product: dict | None, executed: dt.datetime) -> str | None:
    """The rule the simulator applies to its own trades (mirrors register_before_circulate)."""
    if product is None or not product["registration_no"]:
        return "product_not_registered"
    if product["registered"] > executed:
        return "registered_after_trade"
    if product["revoked"] is not None and product["revoked"] <= executed:
        return "product_revoked"
    if product["expired"] is not None and product["expired"] <= executed:
        return "product_expired"
    if product["grade"] == 3:
        return "grade_3_not_tradable"
    return None


def write_trading(
    landing: Path, golden: list[str], *, start: dt.date, days: int, rng: np.random.Generator
) -> dict:
    """Write landing/trading/{products,listings,trades}.csv; return manifest["trading"]."""
    folder = landing / "trading"
    folder.mkdir(parents=True, exist_ok=True)
    window0 = dt.datetime.combine(start, dt.time(), tzinfo=_TZ)
    span = dt.timedelta(days=days)
    n_products = max(8, len(golden) // 2)
    products = []
    for i in range(n_products):
        kind = _KINDS[i % len(_KINDS)]
        registered = window0 - dt.timedelta(days=int(rng.integers(20, 300)))
        if kind == "registered_late":
            registered = window0 + span / 2
        p = {
            "product_id": f"DP{i + 1:05d}",
            "provider_uscc": golden[int(rng.integers(len(golden)))],
            "title": _TITLES[i % len(_TITLES)],
            "data_domain": list(DATA_DOMAINS)[i % len(DATA_DOMAINS)],
            "grade": 3 if kind == "grade_3" else int(rng.choice([1, 2])),
            "registration_no": ""
            if kind == "never_registered"
            else f"鲁数登字〔{registered.year}〕{i + 1:06d}号",
            "registered": registered,
            "revoked": window0 + span / 2 if kind == "revoked" else None,
            "expired": window0 + span / 3 if kind == "expired" else None,
            "kind": kind,
        }
        products.append(p)
    by_id = {p["product_id"]: p for p in products}
    n_trades = n_products * 5
    unknown = [make_uscc("370102", "MC" + "".join(rng.choice(list(USCC_CHARSET), size=6))) for _ in range(2)]
    trades, reasons, flagged, violations_by_day = [], Counter(), 0, Counter()
    for t in range(n_trades):
        ghost = t % 17 == 16  # a trade of a product the platform never listed or registered
        p = None if ghost else products[t % n_products]
        executed = window0 + dt.timedelta(seconds=int(rng.integers(0, int(span.total_seconds()))))
        seller = p["provider_uscc"] if p else golden[0]
        buyer = unknown[t % 2] if t % 11 == 5 else golden[int(rng.integers(len(golden)))]
        quantity = int(rng.integers(1, 20))
        amount = round(quantity * float(rng.uniform(500, 20_000)), 2)
        product_id = p["product_id"] if p else f"DP9{t:04d}"
        reason = expected_reason(p, executed)
        if reason:
            reasons[reason] += 1
            violations_by_day[executed.astimezone(_TZ).date().isoformat()] += 1
        elif buyer not in golden or seller not in golden:
            flagged += 1
        digest = hashlib.sha256(f"{t}|{product_id}|{seller}|{buyer}|{amount}".encode()).hexdigest()
        trades.append(
            [
                f"T{t + 1:06d}",
                product_id,
                seller,
                buyer,
                f"{amount:.2f}",
                str(quantity),
                _iso(executed),
                digest,
            ]
        )
    write_csv(
        folder / "products.csv",
        PRODUCT_FIELDS,
        [
            [
                p["product_id"],
                p["provider_uscc"],
                p["title"],
                p["data_domain"],
                str(p["grade"]),
                p["registration_no"],
                _iso(p["registered"]) if p["registration_no"] else "",
                _iso(p["revoked"]) if p["revoked"] else "",
                _iso(p["expired"]) if p["expired"] else "",
            ]
            for p in products
        ],
    )
    write_csv(
        folder / "listings.csv",
        LISTING_FIELDS,
        [
            [
                f"L{i + 1:05d}",
                p["product_id"],
                f"{float(rng.uniform(500, 20_000)):.2f}",
                _iso(p["registered"] - dt.timedelta(days=1)),
            ]
            for i, p in enumerate(products)
        ],
    )
    write_csv(folder / "trades.csv", TRADE_FIELDS, trades)
    stamp = int((window0 + span + dt.timedelta(hours=1)).timestamp()) * 1_000_000_000
    for f in ("products.csv", "listings.csv", "trades.csv"):
        os.utime(folder / f, ns=(stamp, stamp))
    os.utime(folder, ns=(stamp, stamp))
    del by_id
    return {
        "products": n_products,
        "listings": n_products,
        "trades": n_trades,
        "clean": n_trades - sum(reasons.values()),
        "quarantined": {r: reasons[r] for r in TRADE_REASONS},
        "counterparty_unknown_flagged": flagged,
        "violations_by_day": dict(sorted(violations_by_day.items())),
    }
