"""The release policy: grade 3 never leaves, grade 2 only in cells of >= 3 enterprises that no total betrays."""

import datetime as dt
import random
from collections import defaultdict

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from assets.sync.aggregate import ALL, aggregate_day, aggregate_sql
from assets.sync.batch import payload_bytes, wire_schema
from assets.sync.measures import (
    DISCLOSURE_THRESHOLD,
    DOMINANCE_K,
    ENERGY,
    MEASURES,
    Measure,
    groups,
    released,
)
from assets.sync.release import bridges, complementary, lines, release
from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY

DAY = dt.date(2026, 10, 5)
GRADE2 = [m.name for m in MEASURES if m.grade == 2 and m.group is ENERGY]  # under the `suppressed` flag


# ---- builders --------------------------------------------------------------------------------------
def energy_rows(
    enterprises: list[tuple[str, str, str]], *, day: dt.date = DAY, seed: int = 0
) -> pl.DataFrame:
    """One or two equipment per enterprise (uscc, city, industry) with plausible daily figures."""
    rng = random.Random(seed)
    rows = []
    for uscc, city, industry in enterprises:
        for k in range(rng.randint(1, 2)):
            kwh, gas, coal = (
                rng.uniform(100, 5000),
                rng.choice([None, rng.uniform(10, 900)]),
                rng.uniform(0, 3),
            )
            expected = 96 * rng.randint(2, 5)
            received = expected - rng.randint(0, 30)
            rows.append(
                {
                    "day": day,
                    "uscc": uscc,
                    "city_code": city,
                    "industry_code": industry,
                    "equipment_id": f"EQ-{uscc[-6:]}-{k}",
                    "equipment_type": "pump",
                    "electricity_kwh": kwh,
                    "natural_gas_m3": gas,
                    "coal_t": coal,
                    "energy_tce": (kwh * 0.1229 + (gas or 0) * 1.2143 + coal * 714.3) / 1000,
                    "peak_load_kw": 10.0,
                    "mean_load_kw": 5.0,
                    "meter_drops": 0,
                    "readings_expected": expected,
                    "readings_received": received,
                    "completeness_pct": 100 * received / expected,
                    "readings_good": received,
                    "readings_uncertain": 0,
                    "readings_bad": 0,
                }
            )
    return pl.DataFrame(rows, schema=ENERGY_DAILY.schema)


def equipment_rows(energy: pl.DataFrame, *, seed: int = 0) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for r in energy.iter_rows(named=True):
        observed = 24 * r["readings_received"] / r["readings_expected"]
        fault = rng.choice([0.0, 0.0, 0.25, 1.5])
        rows.append(
            {
                "day": r["day"],
                "uscc": r["uscc"],
                "equipment_id": r["equipment_id"],
                "equipment_type": "pump",
                "running_hours": observed - fault,
                "fault_hours": fault,
                "starts": 1,
                "availability_pct": 100 * (observed - fault) / observed,
                "limit_exceedances": 0,
                "readings_good": r["readings_received"],
                "readings_uncertain": 0,
                "readings_bad": 0,
            }
        )
    return pl.DataFrame(rows, schema=EQUIPMENT_DAILY.schema)


def duck(
    energy: pl.DataFrame, equipment: pl.DataFrame, trades: pl.DataFrame | None = None
) -> duckdb.DuckDBPyConnection:
    """Theme views as the sync reads them; with trades, silver.trade and the sellers' profiles too."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA theme")
    con.register("energy_src", energy)
    con.register("equipment_src", equipment)
    con.execute("CREATE VIEW theme.energy_daily AS SELECT * FROM energy_src")
    con.execute("CREATE VIEW theme.equipment_daily AS SELECT * FROM equipment_src")
    if trades is not None:
        con.execute("CREATE SCHEMA silver")
        con.register("trade_src", trades)
        profiles = energy.select("uscc", "city_code", "industry_code").unique("uscc")
        con.register("profile_src", profiles)
        con.execute("CREATE VIEW silver.trade AS SELECT * FROM trade_src")
        con.execute("CREATE VIEW theme.enterprise AS SELECT * FROM profile_src")
    return con


def trade_rows(sales: list[tuple[str, float]], *, day: dt.date = DAY) -> pl.DataFrame:
    """Clean trades (seller uscc, amount) of a day, as silver.trade holds them."""
    return pl.DataFrame(
        [
            {"trade_id": f"T{k}", "seller_uscc": uscc, "amount_cny": amount, "day": day}
            for k, (uscc, amount) in enumerate(sales)
        ],
        schema={"trade_id": pl.String, "seller_uscc": pl.String, "amount_cny": pl.Float64, "day": pl.Date},
    )


def random_enterprises(rng: random.Random) -> list[tuple[str, str, str]]:
    cities = [f"37{i:02d}" for i in rng.sample(range(1, 18), rng.randint(2, 6))]
    industries = rng.sample(["06", "17", "26", "31", "34", "38", "44", "45"], rng.randint(2, 6))
    out = []
    for c in cities:
        for i in industries:
            if rng.random() < 0.65:
                out += [(f"91370000{len(out):010d}", c, i) for _ in range(rng.choice([1, 1, 2, 2, 3, 4, 6]))]
    return out or [("913700000000000001", cities[0], industries[0])]


# ---- what a reader of the payload can derive -------------------------------------------------------
def derivable_by_linear_algebra(cells: list[tuple[str, str]], hidden: set[tuple[str, str]]) -> set:
    """Hidden entries whose value is fixed by the additive relations (rows, columns, margins) and the rest.

    Row r: sum of (r, i) - (r, ALL) = 0; column i: sum of (r, i) - (ALL, i) = 0; the margins' own row
    and column likewise. An unknown is determined iff its unit vector lies in the row space of the
    relations restricted to the unknowns.
    """
    unknown = sorted(hidden)
    if not unknown:
        return set()
    index = {c: k for k, c in enumerate(unknown)}
    relations = []
    for (kind, _key), members in lines(cells).items():
        row = np.zeros(len(unknown))
        for cell in members:
            if cell in index:
                is_margin_of_line = cell[1] == ALL if kind == "row" else cell[0] == ALL
                row[index[cell]] = -1.0 if is_margin_of_line else 1.0
        relations.append(row)
    a = np.array(relations)
    rank = np.linalg.matrix_rank(a)
    found = set()
    for cell, k in index.items():
        unit = np.zeros(len(unknown))
        unit[k] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
            found.add(cell)
    return found


def assert_releasable(aggregates: pl.DataFrame, sent: pl.DataFrame, dominance: float = DOMINANCE_K) -> None:
    """The promises of the policy, checked on what actually leaves (the decoded payload), per group."""
    names = set(sent.columns)
    assert not [m.name for m in MEASURES if m.grade >= 3 and m.name in names]
    for group in groups():
        merged = sent.join(
            aggregates.select("city_code", "industry_code", group.respondents, group.top_share),
            on=["city_code", "industry_code"],
            how="left",
            validate="1:1",
        )
        n = pl.col(group.respondents)
        visible_small = merged.filter(~pl.col(group.flag) & (n > 0) & (n < DISCLOSURE_THRESHOLD))
        assert visible_small.is_empty(), visible_small
        dominated = merged.filter(~pl.col(group.flag) & (n > 0) & (pl.col(group.top_share) > dominance))
        assert dominated.is_empty(), dominated
        hidden_rows = merged.filter(pl.col(group.flag))
        for m in MEASURES:
            if m.grade == 2 and m.group is group:
                assert hidden_rows[m.name].null_count() == hidden_rows.height, m.name
        cells = list(zip(merged["city_code"], merged["industry_code"], strict=True))
        hidden = {c for c, s in zip(cells, merged[group.flag], strict=True) if s}
        for members in lines(cells).values():  # no total minus the visible cells gives a suppressed one
            assert sum(c in hidden for c in members) != 1, members
        assert not derivable_by_linear_algebra(cells, hidden)


def decoded(frame: pl.DataFrame) -> pl.DataFrame:
    return pl.from_arrow(pa.ipc.open_stream(payload_bytes(frame)).read_all())


# ---- tests ------------------------------------------------------------------------------------------
def test_cell_below_three_enterprises_is_suppressed_and_its_row_and_column_protect_it():
    ents = [
        (f"9137000000000000{i:02d}", c, ind)
        for i, (c, ind) in enumerate(
            [("3701", "26")] * 4
            + [("3701", "31")] * 1
            + [("3701", "44")] * 5
            + [("3702", "26")] * 3
            + [("3702", "31")] * 4
            + [("3702", "44")] * 3
        )
    ]
    energy = energy_rows(ents)
    agg = aggregate_day(duck(energy, equipment_rows(energy)), DAY)
    out = release(agg, dominance=1.0)  # the threshold alone (dominance has its own tests)
    sent = out.frame
    small = sent.filter((pl.col("city_code") == "3701") & (pl.col("industry_code") == "31")).row(
        0, named=True
    )
    assert small["suppressed"] and small["suppression"] == "primary" and small["energy_tce"] is None
    assert out.primary == 1 and out.secondary >= 3  # its row, its column, and the cell closing the rectangle
    assert_releasable(agg, decoded(sent), dominance=1.0)


def test_line_rule_suppresses_the_next_smallest_entry_of_a_row_with_one_suppression():
    cells = {
        ("A", "x"): (1, 1.0),
        ("A", "y"): (5, 50.0),
        ("A", "z"): (4, 40.0),
        ("A", ALL): (10, 91.0),
        ("B", "x"): (6, 6.0),
        ("B", "y"): (7, 70.0),
        ("B", "z"): (8, 80.0),
        ("B", ALL): (21, 156.0),
        (ALL, "x"): (7, 7.0),
        (ALL, "y"): (12, 120.0),
        (ALL, "z"): (12, 120.0),
        (ALL, ALL): (31, 247.0),
    }
    extra = complementary(cells, {("A", "x")})
    assert ("A", "z") in extra  # 4 enterprises: the next-smallest of row A
    assert ("B", "x") in extra  # column x had one suppression left
    assert not bridges(extra | {("A", "x")})


def test_two_protected_blocks_joined_by_one_cell_do_not_expose_it():
    """Every row and column holds two suppressions, yet the joining cell is derivable: the line rule alone
    is not enough, the bridge check closes it into a cycle."""
    rows, cols = ["r1", "r2", "r3", "r4"], ["c1", "c2", "c3", "c4"]
    cells = {(r, c): (5, 5.0) for r in rows for c in cols}
    cells |= (
        {(r, ALL): (20, 20.0) for r in rows} | {(ALL, c): (20, 20.0) for c in cols} | {(ALL, ALL): (80, 80.0)}
    )
    hidden = {
        ("r1", "c1"),
        ("r1", "c2"),
        ("r2", "c1"),
        ("r2", "c2"),
        ("r3", "c3"),
        ("r3", "c4"),
        ("r4", "c3"),
        ("r4", "c4"),
        ("r2", "c3"),
    }
    assert all(sum(c in hidden for c in m) != 1 for m in lines(cells).values())
    assert derivable_by_linear_algebra(list(cells), hidden) == {("r2", "c3")} == bridges(hidden)
    protected = hidden | complementary(cells, hidden)
    assert not derivable_by_linear_algebra(list(cells), protected)


def test_grade3_measure_is_never_computed_nor_sent():
    secret = Measure("recipe_parameter", "sum(coal_t)", 3, "t", "a grade-3 process parameter")
    measures = (*MEASURES, secret)
    assert secret not in released(measures)
    assert "recipe_parameter" not in aggregate_sql(released(measures), "e", "q")
    assert "recipe_parameter" not in wire_schema(measures).names
    ents = [(f"91370000000000{i:04d}", "3701", "26") for i in range(5)]
    energy = energy_rows(ents)
    agg = aggregate_day(duck(energy, equipment_rows(energy)), DAY, measures=measures)
    assert "recipe_parameter" not in release(agg, measures=measures).frame.columns


def test_suppressed_cell_keeps_grade1_values_and_loses_grade2_ones():
    ents = [("913700000000000001", "3701", "26")] + [
        (f"91370000000000{i:04d}", "3702", "26") for i in range(3)
    ]
    energy = energy_rows(ents)
    sent = release(aggregate_day(duck(energy, equipment_rows(energy)), DAY)).frame
    hidden = sent.filter(pl.col("suppressed"))
    assert hidden.height >= 2
    grade1 = [m.name for m in MEASURES if m.grade == 1]
    assert grade1 and hidden[grade1[0]].null_count() < hidden.height
    assert all(hidden[n].null_count() == hidden.height for n in GRADE2)


@pytest.mark.parametrize("seed", range(60))
def test_no_payload_leaks_a_small_cell_or_a_derivable_one(seed):
    """Property over random provinces: whatever the layout, the three promises hold on the wire."""
    rng = random.Random(seed)
    ents = random_enterprises(rng)
    energy = energy_rows(ents, seed=seed)
    agg = aggregate_day(duck(energy, equipment_rows(energy, seed=seed)), DAY)
    assert_releasable(agg, decoded(release(agg).frame))


def test_property_on_bare_tables_with_many_small_cells():
    """The suppression alone over 300 random tables (no DuckDB), checked by linear algebra."""
    rng = random.Random(7)
    for _ in range(300):
        nr, nc = rng.randint(1, 6), rng.randint(1, 6)
        inner = {
            (f"r{i}", f"c{j}"): rng.choice([1, 1, 2, 3, 4, 9])
            for i in range(nr)
            for j in range(nc)
            if rng.random() < 0.7
        }
        if not inner:
            continue
        counts: dict = defaultdict(int)
        for (r, c), n in inner.items():
            counts[(r, c)] = n
            counts[(r, ALL)] += n
            counts[(ALL, c)] += n
            counts[(ALL, ALL)] += n
        cells = {k: (n, float(n)) for k, n in counts.items()}
        primary = {k for k, (n, _) in cells.items() if n < DISCLOSURE_THRESHOLD}
        hidden = primary | complementary(cells, primary)
        assert all(sum(c in hidden for c in m) != 1 for m in lines(cells).values())
        assert not derivable_by_linear_algebra(list(cells), hidden)


def test_a_cell_dominated_by_its_two_largest_enterprises_is_withheld_and_protected():
    """Five enterprises, but two hold > 85% of the cell's energy: each could estimate the other."""
    ents = [
        (f"91370000000000{i:04d}", c, ind)
        for i, (c, ind) in enumerate(
            [("3701", "26")] * 5 + [("3701", "31")] * 4 + [("3702", "26")] * 4 + [("3702", "31")] * 4
        )
    ]
    energy = energy_rows(ents).with_columns(
        natural_gas_m3=pl.lit(100.0), coal_t=pl.lit(1.0), electricity_kwh=pl.lit(1000.0)
    )
    big = energy["uscc"].unique().sort()[:2].to_list()  # two of the five in 3701/26
    energy = energy.with_columns(
        pl.when(pl.col("uscc").is_in(big)).then(pl.col(c) * 1000).otherwise(pl.col(c)).alias(c)
        for c in ("electricity_kwh", "natural_gas_m3", "coal_t", "energy_tce")
    )
    agg = aggregate_day(duck(energy, equipment_rows(energy)), DAY)
    cell = agg.filter((pl.col("city_code") == "3701") & (pl.col("industry_code") == "26")).row(0, named=True)
    assert cell["contributors"] == 5 and cell["energy_top_share"] > DOMINANCE_K
    out = release(agg)
    sent = out.frame.filter((pl.col("city_code") == "3701") & (pl.col("industry_code") == "26")).row(
        0, named=True
    )
    assert sent["suppressed"] and sent["suppression"] == "dominance" and sent["energy_tce"] is None
    # the cell dominates its city total, its industry total and the province total too: all four withheld,
    # and being a cycle (rectangle) they protect each other without secondary suppressions
    assert out.dominance == 4 and out.primary == 0
    assert_releasable(agg, decoded(out.frame))


def test_trading_value_is_protected_by_its_sellers_not_by_the_energy_reporters():
    """A cell with many energy reporters but a single seller: its trading value is withheld, its energy not."""
    ents = [
        (f"91370000000000{i:04d}", c, ind)
        for i, (c, ind) in enumerate(
            [("3701", "26")] * 4 + [("3701", "31")] * 4 + [("3702", "26")] * 4 + [("3702", "31")] * 4
        )
    ]
    energy = energy_rows(ents).with_columns(  # even consumers: no energy cell is dominated here
        natural_gas_m3=pl.lit(100.0),
        coal_t=pl.lit(1.0),
        electricity_kwh=pl.lit(1000.0),
        energy_tce=pl.lit(1.0),
    )
    usccs = {k: [u for u, c, i in ents if (c, i) == k] for k in {(c, i) for _, c, i in ents}}
    sales = [(usccs[("3701", "26")][0], 5000.0)]  # one seller: primary
    for cell in (("3701", "31"), ("3702", "26"), ("3702", "31")):
        sales += [(u, 1000.0 + 10 * k) for k, u in enumerate(usccs[cell][:3])]
    sales.append(("91379999999999999X", 700.0))  # a seller not in the golden record: cell UNKNOWN/UNKNOWN
    agg = aggregate_day(duck(energy, equipment_rows(energy), trade_rows(sales)), DAY)
    out = release(agg)
    sent = out.frame
    lone = sent.filter((pl.col("city_code") == "3701") & (pl.col("industry_code") == "26")).row(0, named=True)
    assert lone["trading_suppressed"] and lone["trading_suppression"] == "primary"
    assert lone["trading_value_cny"] is None and lone["trades"] is None
    assert not lone["suppressed"] and lone["energy_tce"] is not None  # four energy reporters
    total = sent.filter(pl.col("level") == "province_total").row(0, named=True)
    assert total["trades"] == len(sales) and total["trading_value_cny"] == pytest.approx(
        sum(v for _, v in sales)
    )
    unknown = (
        agg.filter(pl.col("city_code") == "UNKNOWN").filter(pl.col("level") == "cell").row(0, named=True)
    )
    assert unknown["sellers"] == 1 and unknown["contributors"] == 0 and unknown["energy_tce"] == 0
    assert_releasable(agg, decoded(sent))


@pytest.mark.parametrize("seed", range(20))
def test_no_payload_leaks_a_small_or_dominated_cell_of_either_group(seed):
    """Property with trades too: each disclosure group keeps its promises on the wire."""
    rng = random.Random(seed)
    ents = random_enterprises(rng)
    energy = energy_rows(ents, seed=seed)
    sellers = rng.sample([u for u, _, _ in ents], k=max(1, len(ents) // 2))
    sales = [(rng.choice(sellers), round(rng.uniform(100, 90_000), 2)) for _ in range(rng.randint(1, 60))]
    agg = aggregate_day(duck(energy, equipment_rows(energy, seed=seed), trade_rows(sales)), DAY)
    assert_releasable(agg, decoded(release(agg).frame))
