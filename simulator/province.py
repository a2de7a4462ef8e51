"""Master data of the simulated province: enterprises, sites (one gateway each) and ISA-95 equipment.

Drawn only from the enterprise count and the seed, so the same province comes back whatever the number
of days or the defect rate; the telemetry module reads the per-equipment arrays kept here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from warehouse.codes import USCC_CHARSET, current_districts, make_uscc
from warehouse.domain import CITIES, EQUIPMENT_TYPES, INDUSTRIES, INDUSTRY_LIBRARIES

# Relative industrial weight of each city (Zibo, Dongying, Binzhou, Weifang carry the heavy industry).
_CITY_WEIGHT = {"3703": 2.0, "3705": 1.6, "3716": 1.5, "3707": 1.6, "3701": 1.3, "3702": 1.4, "3706": 1.2}
# Industry libraries the plan targets (chemicals, metallurgy, machinery, power) dominate the sample.
_LIBRARY_WEIGHT = {
    "chemicals": 4.0,
    "metallurgy": 4.0,
    "machinery": 2.2,
    "power_energy": 2.0,
    "textiles": 1.2,
}
_POWER_AND_HEAT_BOOST = 3.0  # 44 power & heat: many captive plants report
_OTHER_INDUSTRY_WEIGHT = 0.8

# Which work cells an industry runs (keys of EQUIPMENT_TYPES), by topic library.
_EQUIPMENT_MIX: dict[str, dict[str, float]] = {
    "chemicals": {
        "reactor": 4,
        "pump": 3,
        "compressor": 2,
        "boiler": 1.5,
        "motor": 2,
        "fan": 1,
        "transformer": 1,
    },
    "metallurgy": {"motor": 3, "fan": 3, "transformer": 2, "coal_boiler": 1, "pump": 2, "compressor": 2},
    "machinery": {"motor": 3, "compressor": 3, "transformer": 1.5, "fan": 1.5, "pump": 1},
    "power_energy": {"coal_boiler": 3, "boiler": 1, "pump": 2, "fan": 2, "transformer": 2, "motor": 1},
    "textiles": {"motor": 3, "boiler": 2, "fan": 2, "transformer": 1, "compressor": 1},
    "other": {"pump": 2, "motor": 2, "fan": 2, "transformer": 1, "compressor": 1.5, "boiler": 1.5},
}

# Nameplate ranges. Electrical ratings are capped so an energy meter (register 1e6 kWh) does not wrap
# within ~50 days of full load; boilers are rated in steam t/h (rated_power_kw = thermal, 0.7 MW per t/h).
RATED_KW: dict[str, tuple[float, float]] = {
    "motor": (15, 630),
    "pump": (11, 400),
    "fan": (7.5, 500),
    "compressor": (37, 800),
    "reactor": (30, 600),
    "transformer": (200, 1000),  # kVA
}
STEAM_TPH: dict[str, tuple[float, float]] = {"boiler": (2, 10), "coal_boiler": (10, 130)}
KW_PER_STEAM_TPH = 700.0

# Vocabulary for realistic registered names (山东鲁泰化工有限公司).
_TRADE_SYLLABLES = (
    "鲁泰华恒信金宏瑞东岳齐海盛源丰德隆昌利新达正和润祥通远嘉建兴汇晨阳光明鑫力诚安博凯天宇中联振元福"
)
_INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "06": ("煤业", "矿业"),
    "07": ("油气", "石油开发"),
    "17": ("纺织", "棉纺"),
    "18": ("服饰", "服装"),
    "22": ("纸业", "造纸"),
    "25": ("石化", "焦化", "炼化"),
    "26": ("化工", "化学", "精细化工"),
    "27": ("制药", "药业"),
    "28": ("化纤", "纤维"),
    "29": ("橡胶", "塑胶", "轮胎"),
    "30": ("建材", "水泥", "玻璃"),
    "31": ("钢铁", "特钢"),
    "32": ("铝业", "铜业", "有色金属"),
    "33": ("金属制品", "五金"),
    "34": ("机械", "通用机械"),
    "35": ("重工", "装备"),
    "36": ("汽车", "汽车零部件"),
    "37": ("船舶", "轨道装备"),
    "38": ("电气", "电机"),
    "39": ("电子", "光电"),
    "40": ("仪器仪表", "自动化仪表"),
    "44": ("热电", "电力", "能源"),
    "45": ("燃气", "天然气"),
    "46": ("水务", "供水"),
}
_COMPANY_FORMS = ("有限公司", "股份有限公司", "集团有限公司")
_COMPANY_FORM_P = (0.6, 0.25, 0.15)
_SITE_WORDS = ("厂区", "生产基地", "工业园厂区", "分厂")


@dataclass(frozen=True)
class Province:
    """Master frames as written to landing/master, plus aligned arrays for the telemetry generator."""

    enterprises: pl.DataFrame
    sites: pl.DataFrame  # one site and one gateway per enterprise, same order
    equipment: pl.DataFrame  # grouped by site, site order
    eq_site: np.ndarray  # int32 site (= gateway = enterprise) index of each equipment
    eq_type: np.ndarray  # str equipment type
    eq_library: np.ndarray  # str topic library of the owner's industry ("other" when none)
    eq_steam_tph: np.ndarray  # float rated steam for boilers, 0 otherwise

    @property
    def gateways(self) -> list[str]:
        return self.sites["gateway_id"].to_list()


def industry_library(code: str) -> str:
    return next((lib for lib, codes in INDUSTRY_LIBRARIES.items() if code in codes), "other")


def _industry_weights() -> tuple[list[str], np.ndarray]:
    codes = list(INDUSTRIES)
    w = np.array([_LIBRARY_WEIGHT.get(industry_library(c), _OTHER_INDUSTRY_WEIGHT) for c in codes])
    w[codes.index("44")] *= _POWER_AND_HEAT_BOOST
    return codes, w / w.sum()


def _cities(n: int, rng: np.random.Generator) -> list[str]:
    """Every city gets one enterprise first (when n >= 16), the rest by industrial weight."""
    codes = list(CITIES)
    w = np.array([_CITY_WEIGHT.get(c, 1.0) for c in codes])
    base = codes[:n] if n < len(codes) else codes
    rest = rng.choice(codes, size=max(0, n - len(codes)), p=w / w.sum()).tolist()
    out = list(base) + rest
    rng.shuffle(out)
    return out


def _org_bases(n: int, rng: np.random.Generator) -> list[str]:
    """Unique 8-character organization-code bases: old numeric codes and post-2015 "MA" codes."""
    letters = np.array(list(USCC_CHARSET))
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        if rng.random() < 0.5:
            base = "".join(rng.choice(letters[:10], size=8))
        else:
            base = "MA" + "".join(rng.choice(letters, size=6))
        if base not in seen:
            seen.add(base)
            out.append(base)
    return out


def _names(cities: list[str], industries: list[str], rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Unique registered names and their short trade names."""
    seen: set[str] = set()
    names, shorts = [], []
    syllables = list(_TRADE_SYLLABLES)
    for city, industry in zip(cities, industries, strict=True):
        while True:
            a, b = rng.choice(len(syllables), size=2, replace=False)
            trade = syllables[a] + syllables[b]
            words = _INDUSTRY_WORDS.get(industry, ("实业",))
            word = words[int(rng.integers(len(words)))]
            prefix = "山东" if rng.random() < 0.6 else CITIES[city].split()[0]
            form = _COMPANY_FORMS[int(rng.choice(len(_COMPANY_FORMS), p=_COMPANY_FORM_P))]
            name = f"{prefix}{trade}{word}{form}"
            if name not in seen:
                seen.add(name)
                names.append(name)
                shorts.append(trade + word)
                break
    return names, shorts


def _district(city: str, draw: int) -> str:
    """A real, current GB/T 2260 district of the city (USCCs and resident IDs embed it and are checked)."""
    districts = current_districts(city)
    return districts[draw % len(districts)]


def build_province(n_enterprises: int, rng: np.random.Generator) -> Province:
    """Enterprises spread over the 16 cities, each with one site, 1-3 areas, 1-2 lines per area, 2-8 cells."""
    if n_enterprises < 1:
        raise ValueError("enterprises must be >= 1")
    cities = _cities(n_enterprises, rng)
    codes, weights = _industry_weights()
    industries = rng.choice(codes, size=n_enterprises, p=weights).tolist()
    divisions = [_district(c, int(rng.integers(2, 14))) for c in cities]
    usccs = [make_uscc(d, b) for d, b in zip(divisions, _org_bases(n_enterprises, rng), strict=True)]
    names, shorts = _names(cities, industries, rng)
    libraries = [industry_library(i) for i in industries]
    heavy = np.array([lib in ("chemicals", "metallurgy", "power_energy") for lib in libraries])
    key_user = rng.random(n_enterprises) < np.where(heavy, 0.55, 0.2)
    enterprises = pl.DataFrame(
        {
            "uscc": usccs,
            "name": names,
            "city_code": cities,
            "division_code": divisions,
            "industry_code": industries,
            "key_energy_user": key_user,
        }
    )

    gw_seq: dict[str, int] = {}
    site_rows: dict[str, list] = {"site_id": [], "uscc": [], "name": [], "gateway_id": []}
    eq_rows: dict[str, list] = {k: [] for k in ("equipment_id", "uscc", "site_id", "area_id", "line_id")}
    eq_site: list[int] = []
    eq_type: list[str] = []
    eq_library: list[str] = []
    for i in range(n_enterprises):
        site_id = f"ST{i + 1:06d}"
        gw_seq[cities[i]] = gw_seq.get(cities[i], 0) + 1
        site_rows["site_id"].append(site_id)
        site_rows["uscc"].append(usccs[i])
        site_rows["name"].append(
            f"{shorts[i]}{CITIES[cities[i]].split()[0]}{_SITE_WORDS[i % len(_SITE_WORDS)]}"
        )
        site_rows["gateway_id"].append(f"GW{cities[i]}{gw_seq[cities[i]]:04d}")
        n_eq = int(rng.integers(2, 9))
        lines = [
            (f"{site_id}-A{a}", f"{site_id}-A{a}-L{b}")
            for a in range(1, int(rng.integers(1, 4)) + 1)
            for b in range(1, int(rng.integers(1, 3)) + 1)
        ][:n_eq]
        mix = _EQUIPMENT_MIX[libraries[i]]
        p = np.array(list(mix.values()), dtype=float)
        types = rng.choice(list(mix), size=n_eq, p=p / p.sum()).tolist()
        line_of = np.sort(
            np.concatenate([np.arange(len(lines)), rng.integers(0, len(lines), n_eq - len(lines))])
        )
        for j in range(n_eq):
            area_id, line_id = lines[int(line_of[j])]
            eq_rows["equipment_id"].append("")  # numbered below
            eq_rows["uscc"].append(usccs[i])
            eq_rows["site_id"].append(site_id)
            eq_rows["area_id"].append(area_id)
            eq_rows["line_id"].append(line_id)
            eq_site.append(i)
            eq_type.append(types[j])
            eq_library.append(libraries[i])

    n_eq_total = len(eq_site)
    if n_eq_total >= 800_000:
        raise ValueError("too many equipment for the EQ1xxxxx-EQ8xxxxx id range")
    types_arr = np.array(eq_type)
    rated = np.zeros(n_eq_total)
    steam = np.zeros(n_eq_total)
    u = rng.random(n_eq_total)
    for t, (lo, hi) in RATED_KW.items():
        m = types_arr == t
        rated[m] = np.exp(np.log(lo) + u[m] * (np.log(hi) - np.log(lo)))  # log-uniform nameplates
    for t, (lo, hi) in STEAM_TPH.items():
        m = types_arr == t
        steam[m] = np.round(lo + u[m] * (hi - lo), 0)
        rated[m] = steam[m] * KW_PER_STEAM_TPH
    rated = np.round(rated, 1)
    eq_rows["equipment_id"] = [f"EQ{100001 + k:06d}" for k in range(n_eq_total)]
    equipment = pl.DataFrame(
        {
            **eq_rows,
            "equipment_type": eq_type,
            "rated_power_kw": rated,
            "metrics": [",".join(EQUIPMENT_TYPES[t]) for t in eq_type],
        }
    )
    return Province(
        enterprises=enterprises,
        sites=pl.DataFrame(site_rows),
        equipment=equipment,
        eq_site=np.array(eq_site, dtype=np.int32),
        eq_type=types_arr,
        eq_library=np.array(eq_library),
        eq_steam_tph=steam,
    )
