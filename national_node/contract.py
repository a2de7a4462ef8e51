"""The center's own copy of the released-measures contract (wire schema versions 1 and 2).

The node never takes a measure's grade or group from the manifest: a province declaring a grade-2
measure as grade 1 would otherwise let a withheld row carry its value. The province declares the same
contract in `assets/sync/measures.py`; a unit test keeps the two in step (programs share the contract,
not code). Changing a measure means a new schema version on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

DISCLOSURE_THRESHOLD = 3  # enterprises (energy) or trades (trading) per released grade-2 entry
# (n, k) dominance: the province withholds an entry whose n largest respondents hold more than k of it.
# The payload carries no respondent shares, so the center checks the rule the manifest declares.
DOMINANCE_N, DOMINANCE_K = 2, 0.85
DIMENSIONS = ("day", "level", "city_code", "industry_code")
LEVELS = ("cell", "city_total", "industry_total", "province_total")
REASONS = ("primary", "dominance", "secondary")  # why a group's entry is withheld
# Differential privacy: the mark a withheld entry carries when its noisy measures hold a noisy estimate
# (the exact values are still withheld: flag and reason stay). Closed set; null = no noise.
NOISE = ("laplace",)


@dataclass(frozen=True)
class Group:
    """A disclosure group: measures sharing respondents, withheld together where `flag` is set.

    `count` is the group's integer measure bounding its respondents from above (enterprises reporting;
    trades, since a cell's sellers are never more than its trades): a released grade-2 entry needs
    `count` of 0 (nobody to betray) or at least DISCLOSURE_THRESHOLD.
    """

    name: str
    flag: str
    reason: str
    count: str
    noise: str  # the mark column, present when the batch declares it (differential privacy on)


@dataclass(frozen=True)
class Measure:
    name: str
    grade: int  # 1 may leave as detail, 2 only above the threshold and not withheld, 3 never leaves
    group: str
    integer: bool = False
    noisy: bool = False  # a sum that a withheld entry may carry as a marked noisy estimate


ENERGY = Group("energy", "suppressed", "suppression", "enterprises", "noise")
TRADING = Group("trading", "trading_suppressed", "trading_suppression", "trades", "trading_noise")
GROUPS: dict[str, Group] = {g.name: g for g in (ENERGY, TRADING)}

MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("enterprises", 2, "energy", integer=True),
        Measure("electricity_kwh", 2, "energy", noisy=True),
        Measure("natural_gas_m3", 2, "energy", noisy=True),
        Measure("coal_t", 2, "energy", noisy=True),
        Measure("energy_tce", 2, "energy", noisy=True),
        Measure("completeness_pct", 2, "energy"),
        Measure("availability_pct", 1, "energy"),
        Measure("trades", 2, "trading", integer=True),
        Measure("trading_value_cny", 2, "trading"),
    )
}

# The disclosure groups each schema version carries (version 1 had energy only, no group declarations).
SCHEMA_GROUPS: dict[str, tuple[str, ...]] = {"1": ("energy",), "2": ("energy", "trading")}


# ---- roles: the national center, or an industry node (`serve --role energy`) -------------------------
@dataclass(frozen=True)
class Role:
    """What a node in this role accepts. An industry node takes the rows of its GB/T 4754 divisions only
    (cells and per-division totals: a city or province total covers other industries), the measures of
    its contract, up to its highest grade. The province declares the same contracts in
    warehouse/registry/sync.py (SYNC_CHANNELS); a unit test keeps the two in step."""

    name: str
    divisions: frozenset[str] | None = None  # None: every division
    measures: frozenset[str] | None = None  # None: every measure of the center's contract
    max_grade: int = 2
    levels: tuple[str, ...] = LEVELS


_INDUSTRY_LEVELS = ("cell", "industry_total")
_ENERGY = ("enterprises", "electricity_kwh", "natural_gas_m3", "coal_t", "energy_tce", "completeness_pct")
NATIONAL_ROLE = Role("national")
ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        NATIONAL_ROLE,
        Role(
            "energy",
            frozenset({"06", "07", "44", "45"}),
            frozenset({*_ENERGY, "availability_pct"}),
            levels=_INDUSTRY_LEVELS,
        ),
        Role(
            "machinery",
            frozenset({"33", "34", "35", "36", "37", "38", "40"}),
            frozenset({"enterprises", "energy_tce", "availability_pct", "trades", "trading_value_cny"}),
            levels=_INDUSTRY_LEVELS,
        ),
        Role(
            "chemicals",
            frozenset({"25", "26", "28", "29"}),
            frozenset({*_ENERGY, "availability_pct", "trades", "trading_value_cny"}),
            levels=_INDUSTRY_LEVELS,
        ),
    )
}
