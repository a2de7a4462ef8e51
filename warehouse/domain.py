"""Domain reference data, declared once: cities, industries, equipment, metrics, units, tce factors.

Every other module (simulator, transforms, quality, sync) imports these; nothing retypes them.
Sources: GB/T 2260 (divisions), GB/T 4754-2017 (industries), GB/T 2589 (standard coal), ISA-95.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

TIMEZONE = "Asia/Shanghai"
# TIMEZONE has kept UTC+8 without daylight saving since 1991-09-15: from this instant on its local day is
# the UTC instant plus 8 hours (tests/unit/test_transform.py checks this against the zone database,
# 1900-2100; change both with TIMEZONE).
FIXED_OFFSET_SINCE = dt.datetime(1992, 1, 1, tzinfo=dt.UTC)
FIXED_OFFSET = dt.timedelta(hours=8)


def local_today() -> dt.date:
    """Today in the province's time zone: local days, not UTC ones, are the days of every partition."""
    return dt.datetime.now(ZoneInfo(TIMEZONE)).date()


PROVINCE_CODE = "37"

# GB/T 2260: Shandong's 16 prefecture-level cities. 3712 Laiwu merged into Jinan in 2019.
CITIES: dict[str, str] = {
    "3701": "济南 Jinan",
    "3702": "青岛 Qingdao",
    "3703": "淄博 Zibo",
    "3704": "枣庄 Zaozhuang",
    "3705": "东营 Dongying",
    "3706": "烟台 Yantai",
    "3707": "潍坊 Weifang",
    "3708": "济宁 Jining",
    "3709": "泰安 Tai'an",
    "3710": "威海 Weihai",
    "3711": "日照 Rizhao",
    "3713": "临沂 Linyi",
    "3714": "德州 Dezhou",
    "3715": "聊城 Liaocheng",
    "3716": "滨州 Binzhou",
    "3717": "菏泽 Heze",
}
LEGACY_CITY_CODES: dict[str, str] = {"3712": "3701"}

# GB/T 4754-2017 divisions the center tracks.
INDUSTRIES: dict[str, str] = {
    "06": "coal mining",
    "07": "oil & gas extraction",
    "17": "textiles",
    "18": "apparel",
    "22": "paper",
    "25": "petroleum, coal & other fuel processing",
    "26": "chemical raw materials & products",
    "27": "pharmaceuticals",
    "28": "chemical fibres",
    "29": "rubber & plastics",
    "30": "non-metallic minerals",
    "31": "ferrous smelting & rolling",
    "32": "non-ferrous smelting & rolling",
    "33": "metal products",
    "34": "general equipment",
    "35": "special equipment",
    "36": "automobiles",
    "37": "rail, ship & aerospace equipment",
    "38": "electrical machinery",
    "39": "computers & electronics",
    "40": "instruments",
    "44": "power & heat",
    "45": "gas",
    "46": "water",
}

# Industry topic libraries group divisions (DOMAIN.md); the one place this map lives.
INDUSTRY_LIBRARIES: dict[str, tuple[str, ...]] = {
    "chemicals": ("25", "26", "28", "29"),
    "metallurgy": ("31", "32"),
    "machinery": ("33", "34", "35", "36", "37", "38", "40"),
    "power_energy": ("06", "07", "44", "45"),
    "textiles": ("17", "18"),
}

# Industry chains: each GB/T 4754 division with the divisions it typically buys from (its upstream).
# The simulator declares supplier links along these; the supply-chain view names the relation.
INDUSTRY_CHAIN: dict[str, tuple[str, ...]] = {
    "25": ("06", "07"),
    "26": ("25", "06", "07", "44"),
    "27": ("26",),
    "28": ("26", "25"),
    "29": ("26", "25"),
    "30": ("06", "44"),
    "31": ("06", "30", "44", "45"),
    "32": ("06", "44"),
    "33": ("31", "32"),
    "34": ("31", "32", "33", "29"),
    "35": ("31", "33", "38"),
    "36": ("31", "32", "29", "38", "39"),
    "37": ("31", "32", "34", "38"),
    "38": ("32", "31", "29"),
    "39": ("32", "26"),
    "40": ("39", "32"),
    "17": ("28", "26"),
    "18": ("17",),
    "22": ("44", "26"),
    "44": ("06", "07", "45"),
    "45": ("07",),
}

# GB/T 2589: standard coal equivalents (kgce per unit of the carrier's canonical unit).
KGCE_PER_UNIT: dict[str, float] = {
    "electricity": 0.1229,  # kgce/kWh, calorific equivalent
    "natural_gas": 1.2143,  # kgce/m³, configured factor within 1.1000-1.3300
    "coal": 714.3,  # kgce/t raw coal (0.7143 kgce/kg)
}
CARRIER_UNIT: dict[str, str] = {"electricity": "kWh", "natural_gas": "m³", "coal": "t"}

SAMPLING_INTERVAL_MINUTES = 15  # national energy-monitoring real-time indicator interval
READINGS_PER_DAY = 24 * 60 // SAMPLING_INTERVAL_MINUTES
COMPLETE_DAY_SHARE = 0.90  # a day is complete when >= 90% of expected readings arrived
# An enterprise's reported monthly energy agrees with its monitored daily sums within this share.
REPORT_AGREEMENT_TOLERANCE = 0.05


def day_closes_at(day: dt.date) -> dt.datetime:
    """When a local day is over: the local midnight after it (Asia/Shanghai), as an aware datetime."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(TIMEZONE))


def provisional(day: dt.date, build_started_at: dt.datetime) -> bool:
    """A build of `day` whose run started before the day closed holds the figures so far, not the day's.

    Judged on the run's start, not its end: a run that started at 23:59 read bronze before midnight.
    """
    return build_started_at < day_closes_at(day)


MetricKind = Literal["instant", "cumulative", "state"]

# Running-state codes carried in `value` for metric `running_state`.
STATE_STOPPED, STATE_RUNNING, STATE_IDLE, STATE_FAULT = 0, 1, 2, 3


@dataclass(frozen=True)
class Metric:
    """One measured quantity: its canonical unit, plausible physical range and alarm limit."""

    name: str
    unit: str
    kind: MetricKind
    low: float
    high: float
    alarm_high: float | None = None
    carrier: str | None = None  # energy carrier for cumulative meters
    register_size: float | None = None  # meter rollover point, canonical unit


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("power", "kW", "instant", 0, 50_000, alarm_high=None),
        Metric("energy", "kWh", "cumulative", 0, 1e9, carrier="electricity", register_size=1_000_000.0),
        Metric("gas_volume", "m³", "cumulative", 0, 1e9, carrier="natural_gas", register_size=1_000_000.0),
        Metric("coal_mass", "t", "cumulative", 0, 1e7, carrier="coal", register_size=100_000.0),
        Metric("steam_flow", "t/h", "instant", 0, 500, alarm_high=120),
        Metric("temperature", "℃", "instant", -40, 1200, alarm_high=450),
        Metric("pressure", "MPa", "instant", 0, 30, alarm_high=12),
        Metric("level", "%", "instant", 0, 100, alarm_high=95),
        Metric("current", "A", "instant", 0, 5000, alarm_high=1500),
        Metric("vibration", "mm/s", "instant", 0, 100, alarm_high=11.2),
        Metric("running_state", "state", "state", 0, 3),
    )
}

# Unit variants seen from gateways -> (canonical unit, multiplier, offset): canonical = v * mult + offset.
UNIT_CONVERSIONS: dict[str, tuple[str, float, float]] = {
    "W": ("kW", 1e-3, 0.0),
    "kW": ("kW", 1.0, 0.0),
    "MW": ("kW", 1e3, 0.0),
    "Wh": ("kWh", 1e-3, 0.0),
    "kWh": ("kWh", 1.0, 0.0),
    "MWh": ("kWh", 1e3, 0.0),
    "℃": ("℃", 1.0, 0.0),
    "°C": ("℃", 1.0, 0.0),
    "degC": ("℃", 1.0, 0.0),
    "K": ("℃", 1.0, -273.15),
    "Pa": ("MPa", 1e-6, 0.0),
    "kPa": ("MPa", 1e-3, 0.0),
    "MPa": ("MPa", 1.0, 0.0),
    "bar": ("MPa", 0.1, 0.0),
    "m³": ("m³", 1.0, 0.0),
    "m3": ("m³", 1.0, 0.0),
    "Nm3": ("m³", 1.0, 0.0),
    "t": ("t", 1.0, 0.0),
    "kg": ("t", 1e-3, 0.0),
    "t/h": ("t/h", 1.0, 0.0),
    "kg/h": ("t/h", 1e-3, 0.0),
    "%": ("%", 1.0, 0.0),
    "A": ("A", 1.0, 0.0),
    "mm/s": ("mm/s", 1.0, 0.0),
    "state": ("state", 1.0, 0.0),
    "": ("state", 1.0, 0.0),
}

# ISA-95 work cells the center connects, and the metrics each reports.
EQUIPMENT_TYPES: dict[str, tuple[str, ...]] = {
    "boiler": ("steam_flow", "gas_volume", "pressure", "temperature", "running_state"),
    "coal_boiler": ("steam_flow", "coal_mass", "pressure", "temperature", "running_state"),
    "reactor": ("temperature", "pressure", "level", "power", "energy", "running_state"),
    "compressor": ("power", "energy", "pressure", "running_state"),
    "pump": ("power", "energy", "pressure", "running_state"),
    "fan": ("power", "energy", "running_state"),
    "motor": ("current", "power", "vibration", "energy", "running_state"),
    "transformer": ("power", "temperature", "energy"),
}

# MIIT industrial data classification (2020): domains and grades; 2022 tiers for the catalog.
DATA_DOMAINS: dict[str, str] = {
    "rnd": "研发 R&D",
    "production": "生产 production",
    "operations": "运维 operations & maintenance",
    "management": "管理 management",
    "external": "外部 external",
}
GRADES: dict[int, str] = {1: "low", 2: "medium", 3: "high"}
GRADE_TIERS: dict[int, str] = {1: "一般 general", 2: "重要 important", 3: "核心 core"}

# DCMM (GB/T 36073-2018): the 8 capability domains, in the standard's order.
DCMM_DOMAINS: tuple[str, ...] = (
    "strategy",
    "governance",
    "architecture",
    "application",
    "security",
    "quality",
    "standards",
    "lifecycle",
)
