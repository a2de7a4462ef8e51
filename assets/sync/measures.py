"""What the province releases to the national center, declared once: the measures and their grades.

Each measure is a DuckDB aggregate over one disclosure group's base rows: the per-equipment day
(theme.energy_daily joined with theme.equipment_daily) for the energy group, the day's clean trades by
seller (silver.trade joined with the seller's current profile) for the trading group. Its grade is the
highest grade of the registry declarations it reads (table and columns), so a column regraded in
`warehouse/registry.py` changes the release policy with it. Sums go through DECIMAL so a day's figures
(and so the payload hash) do not depend on summation order.

A disclosure group is a set of measures whose respondents are the same enterprises: the energy figures
of a cell come from its reporting enterprises, its trading figures from its sellers. Each group is
protected on its own (threshold, dominance, complementary suppression), with its own flag on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY, TRADE, TableSpec

DISCLOSURE_THRESHOLD = 3  # enterprises per released grade-2 cell (statistical agencies' common minimum)
# (n, k) dominance rule: a cell is sensitive when its DOMINANCE_N largest respondents hold more than
# DOMINANCE_K of its total, since each of them could then estimate the others closely (the (2, 85%) rule
# of statistical disclosure control).
DOMINANCE_N = 2
DOMINANCE_K = 0.85
# Per-enterprise, per-day contribution bounds of the sums that may carry differential-privacy noise
# (Measure.dp_bound). Set at about the 95th percentile of an enterprise's day in the demo province
# (see README "Differential privacy"): a larger enterprise's figure is clamped, which biases its cell
# downwards, a larger bound adds proportionally more noise to every noisy cell.
# Demo week (60 enterprises, 418 enterprise-days): p95 26,095 kWh, 10,970 m³, 247 t, 178 tce; max 35,219 kWh,
# 19,505 m³, 565 t, 419 tce.
DP_BOUNDS = {"electricity_kwh": 26_000.0, "natural_gas_m3": 11_000.0, "coal_t": 250.0, "energy_tce": 180.0}
SCHEMA_VERSION = "2"  # of the released table; bump when a measure is added, removed or redefined


@dataclass(frozen=True)
class DisclosureGroup:
    """Measures sharing respondents, protected together; `flag`/`reason` are its columns on the wire."""

    name: str
    flag: str  # boolean column: this group's grade-2 values are withheld in the row
    reason: str  # why: primary (few respondents), dominance, secondary (complementary)
    respondents: str  # internal column: distinct enterprises behind the row (never leaves)
    top_share: str  # internal column: share of the DOMINANCE_N largest respondents in `magnitude`
    magnitude: str  # the measure whose size orders complementary suppression (smallest first)
    noise: str = ""  # column on the wire (differential privacy on): "laplace" where the values are noisy


ENERGY = DisclosureGroup(
    "energy", "suppressed", "suppression", "contributors", "energy_top_share", "energy_tce", "noise"
)
TRADING = DisclosureGroup(
    "trading",
    "trading_suppressed",
    "trading_suppression",
    "sellers",
    "trading_top_share",
    "trading_value_cny",
    "trading_noise",
)
GROUPS: tuple[DisclosureGroup, ...] = (ENERGY, TRADING)


def source_grade(spec: TableSpec, *columns: str) -> int:
    """A value derived from these columns is as sensitive as the most sensitive declaration it reads."""
    return max(spec.grade, *(spec.column(c).grade for c in columns))


@dataclass(frozen=True)
class Measure:
    name: str
    sql: str  # aggregate over the base relation (see assets/sync/aggregate.py)
    grade: int  # 1 may leave as detail, 2 only above the threshold, 3 never leaves
    unit: str
    description: str
    integer: bool = False
    group: DisclosureGroup = ENERGY
    additive: bool = True  # entries add up along rows and columns (a sum or a count), so totals bind them
    # Differential privacy (assets/sync/noise.py): the most one enterprise may add to a cell's sum in a day.
    # Each enterprise's contribution is clamped to [0, dp_bound] before the sum, so adding or removing one
    # enterprise moves the sum by at most dp_bound (the sensitivity the noise is calibrated to). None: the
    # measure never carries noise (counts, ratios, and sums without a declared bound stay withheld).
    dp_bound: float | None = None


def _sum(column: str) -> str:
    """Exact and order-independent; no metered carrier in a cell is 0, not unknown."""
    return f"coalesce(sum(CAST({column} AS DECIMAL(38, 6))), 0)"


MEASURES: tuple[Measure, ...] = (
    Measure(
        "enterprises",
        "count(DISTINCT uscc)",
        source_grade(ENERGY_DAILY, "uscc"),
        "count",
        "Enterprises reporting energy that day",
        integer=True,
    ),
    Measure(
        "electricity_kwh",
        _sum("electricity_kwh"),
        source_grade(ENERGY_DAILY, "electricity_kwh"),
        "kWh",
        "Electricity from cumulative meters",
        dp_bound=DP_BOUNDS["electricity_kwh"],
    ),
    Measure(
        "natural_gas_m3",
        _sum("natural_gas_m3"),
        source_grade(ENERGY_DAILY, "natural_gas_m3"),
        "m³",
        "Natural gas from cumulative meters",
        dp_bound=DP_BOUNDS["natural_gas_m3"],
    ),
    Measure(
        "coal_t",
        _sum("coal_t"),
        source_grade(ENERGY_DAILY, "coal_t"),
        "t",
        "Raw coal from cumulative meters",
        dp_bound=DP_BOUNDS["coal_t"],
    ),
    Measure(
        "energy_tce",
        _sum("energy_tce"),
        source_grade(ENERGY_DAILY, "energy_tce"),
        "tce",
        "All carriers in tonnes of standard coal equivalent (GB/T 2589)",
        dp_bound=DP_BOUNDS["energy_tce"],
    ),
    Measure(
        "completeness_pct",
        "100 * sum(least(readings_received, readings_expected)) / nullif(sum(readings_expected), 0)",
        source_grade(ENERGY_DAILY, "readings_received", "readings_expected"),
        "%",
        "Readings received / expected over all equipment (weighted, not a mean of percentages)",
        additive=False,
    ),
    Measure(
        "availability_pct",
        "100 * sum(CAST(observed_hours - fault_hours AS DECIMAL(38, 6)))"
        " / nullif(sum(CAST(observed_hours AS DECIMAL(38, 6))), 0)",
        source_grade(
            EQUIPMENT_DAILY,
            "availability_pct",
            "fault_hours",
            "equipment_type",
            "readings_good",
            "readings_uncertain",
            "readings_bad",
        ),
        "%",
        "Equipment hours not in fault / observed hours (time-weighted over equipment)",
        additive=False,
    ),
    Measure(
        "trades",
        "count(*)",
        source_grade(TRADE, "trade_id", "seller_uscc"),
        "count",
        "Clean trades (register-before-circulate passed) by sellers of the cell",
        integer=True,
        group=TRADING,
    ),
    Measure(
        "trading_value_cny",
        _sum("amount_cny"),
        source_grade(TRADE, "amount_cny", "seller_uscc"),
        "CNY",
        "Contract value of clean trades by sellers of the cell",
        group=TRADING,
    ),
)


def released(measures: tuple[Measure, ...] = MEASURES) -> tuple[Measure, ...]:
    """Grade 3 never leaves the province: such a measure is not even computed for the upload."""
    return tuple(m for m in measures if m.grade < 3)


def noisy(group: DisclosureGroup, measures: tuple[Measure, ...] = MEASURES) -> tuple[Measure, ...]:
    """The group's grade-2 sums that may carry differential-privacy noise in a withheld cell."""
    return tuple(m for m in released(measures) if m.group is group and m.grade == 2 and m.dp_bound)


def groups(measures: tuple[Measure, ...] = MEASURES) -> tuple[DisclosureGroup, ...]:
    """The disclosure groups of the released measures, in declaration order."""
    seen = {m.group.name: m.group for m in released(measures)}
    return tuple(g for g in GROUPS if g.name in seen)
