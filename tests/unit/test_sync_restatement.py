"""Release control across versions: a restated day, compared with every version the node holds, reveals no
withheld entry and no withheld entry's change (checked by linear algebra over all versions at once)."""

from __future__ import annotations

import random

import numpy as np
import polars as pl
import pytest

from assets.sync.aggregate import ALL, aggregate_day
from assets.sync.batch import payload_bytes
from assets.sync.measures import ENERGY, MEASURES, groups
from assets.sync.release import Held, Release, lines, release
from national_node.contract import REASONS
from tests.unit.test_sync_release import (
    DAY,
    assert_releasable,
    decoded,
    duck,
    energy_rows,
    equipment_rows,
    random_enterprises,
)

Cell = tuple[str, str]
ADDITIVE = [m.name for m in MEASURES if m.grade == 2 and m.group is ENERGY and m.additive]


# ---- what a reader holding every version can derive -------------------------------------------------
def derivable_across_versions(versions: list[tuple[dict[Cell, float], set[Cell]]]) -> set[tuple]:
    """Withheld values and changes that the node's versions of a day determine, for one additive measure.

    Each version is (value of every entry, withheld entries); an entry absent from a version is a visible 0.
    The reader is as strong as can be: besides each version's rows and columns (cells sum to their
    margins) it knows which entries did not change between versions, so an unchanged entry is one unknown
    over all the versions that hold it. Returns ("level", cell, version) for a withheld value that is
    determined and ("change", cell, v1, v2) for a withheld entry whose change between v1 and v2 is.
    """
    cells = sorted({c for values, _ in versions for c in values})
    unknown: dict[tuple[Cell, int], int] = {}  # (cell, first version of its class) -> column
    klass: dict[tuple[Cell, int], tuple[Cell, int] | None] = {}  # (cell, version) -> its class, None if known
    for c in cells:
        classes: list[tuple[float, int, bool]] = []  # value, first version, known
        for v, (values, hidden) in enumerate(versions):
            value = values.get(c, 0.0)
            visible = c not in hidden or c not in values
            for k, (seen, first, known) in enumerate(classes):
                if abs(seen - value) <= 1e-9 * max(1.0, abs(value)):
                    classes[k] = (seen, first, known or visible)
                    klass[(c, v)] = (c, first)
                    break
            else:
                classes.append((value, v, visible))
                klass[(c, v)] = (c, v)
        known = {first for _, first, k in classes if k}
        for v in range(len(versions)):
            key = klass[(c, v)]
            if key is not None and key[1] in known:
                klass[(c, v)] = None
            elif key is not None and key not in unknown:
                unknown[key] = len(unknown)
    if not unknown:
        return set()
    relations = []
    for v, (values, _) in enumerate(versions):
        for (kind, _key), members in lines(list(values)).items():
            row = np.zeros(len(unknown))
            for cell in members:
                key = klass[(cell, v)]
                if key is not None:
                    margin = cell[1] == ALL if kind == "row" else cell[0] == ALL
                    row[unknown[key]] += -1.0 if margin else 1.0
            relations.append(row)
    a = np.array(relations)
    _, s, vt = np.linalg.svd(a)
    null = vt[int((s > 1e-9).sum()) :]  # the directions the relations leave free

    def determined(target: np.ndarray) -> bool:
        return bool(np.linalg.norm(null @ target) < 1e-7)

    found: set[tuple] = set()
    for v, (values, hidden) in enumerate(versions):
        for c in hidden & set(values):
            key = klass[(c, v)]
            unit = np.zeros(len(unknown))
            if key is not None:
                unit[unknown[key]] = 1.0
                if determined(unit):
                    found.add(("level", c, v))
            for w in range(v):
                other = klass[(c, w)]
                if key == other:
                    continue
                diff = np.zeros(len(unknown))
                if key is not None:
                    diff[unknown[key]] += 1.0
                if other is not None:
                    diff[unknown[other]] -= 1.0
                if determined(diff):
                    found.add(("change", c, w, v))
    return found


def versions_of(aggregates: list[pl.DataFrame], releases: list[Release], measure: str) -> list:
    """What the node holds of each version (the decoded payloads' flags) with the province's values."""
    out = []
    for agg, rel in zip(aggregates, releases, strict=True):
        sent = decoded(rel.frame)
        keys = list(zip(agg["city_code"], agg["industry_code"], strict=True))
        hidden = {
            c
            for c, s in zip(
                zip(sent["city_code"], sent["industry_code"], strict=True), sent["suppressed"], strict=True
            )
            if s
        }
        out.append((dict(zip(keys, agg[measure].to_list(), strict=True)), hidden))
    return out


def aggregate(energy: pl.DataFrame, seed: int = 0) -> pl.DataFrame:
    return aggregate_day(duck(energy, equipment_rows(energy, seed=seed)), DAY)


def late_reading(energy: pl.DataFrame, uscc: str, kwh: float) -> pl.DataFrame:
    """A late file adds readings to one enterprise's meter: its kWh (and tce) go up."""
    row = energy.with_row_index().filter(pl.col("uscc") == uscc)["index"][0]
    first = pl.int_range(pl.len()) == row
    return energy.with_columns(
        pl.when(first).then(pl.col("electricity_kwh") + kwh).otherwise(pl.col("electricity_kwh")),
        pl.when(first).then(pl.col("energy_tce") + kwh * 0.1229 / 1000).otherwise(pl.col("energy_tce")),
    )


# ---- the case that leaked on 6e237dd ---------------------------------------------------------------
LAYOUT = {
    ("3701", "26"): 4,
    ("3701", "31"): 4,
    ("3703", "26"): 3,
    ("3703", "31"): 3,
    ("3702", "26"): 1,
    ("3702", "31"): 1,
}


EVEN = {
    "electricity_kwh": 3_000_000.0,
    "natural_gas_m3": 100.0,
    "coal_t": 1.0,
    "energy_tce": 3_000_000.0 * 0.1229 / 1000,
}


def even_energy() -> pl.DataFrame:
    """Every enterprise alike (3 GWh a day), so only the threshold decides (no cell is dominated)."""
    cells = [cell for cell, count in LAYOUT.items() for _ in range(count)]
    ents = [(f"913700{c}{i}{k:06d}", c, i) for k, (c, i) in enumerate(cells)]  # equipment ids from the tail
    return energy_rows(ents).with_columns(**EVEN)


def test_a_late_reading_in_a_city_withheld_in_both_versions_does_not_show_through_the_province_total():
    energy = even_energy()
    lone = energy.filter(pl.col("city_code") == "3702")["uscc"][0]
    agg1, agg2 = aggregate(energy), aggregate(late_reading(energy, lone, 2_061_675.0))
    v1 = release(agg1, version=1)
    city = v1.frame.filter(pl.col("city_code") == "3702")
    assert city.height == 3 and city["suppressed"].all()  # both cells and the city total withheld

    # Each version on its own passes the policy, and city 3702 stays withheld in version 2 as well ...
    alone = release(agg2)
    assert_releasable(agg1, decoded(v1.frame))
    assert_releasable(agg2, decoded(alone.frame))
    assert alone.frame.filter(pl.col("city_code") == "3702")["suppressed"].all()
    # ... yet version 2 minus version 1 of the province total is the withheld cell's change.
    total = [r.frame.filter(pl.col("level") == "province_total")["electricity_kwh"][0] for r in (v1, alone)]
    assert total[1] - total[0] == pytest.approx(2_061_675.0)
    leaks = derivable_across_versions(versions_of([agg1, agg2], [v1, alone], "electricity_kwh"))
    assert (
        "change",
        (lone_cell := (("3702", energy.filter(pl.col("uscc") == lone)["industry_code"][0]))),
        0,
        1,
    ) in leaks

    # Released against the version the node holds, the restatement of the totals that would show it is held.
    v2 = release(agg2, held=[v1.held], version=2)
    assert_releasable(agg2, decoded(v2.frame))
    assert v2.restatement == len(v2.restated["energy"]) > 0
    keys = pl.struct("city_code", "industry_code")
    restated = v2.frame.filter(
        keys.is_in([{"city_code": c, "industry_code": i} for c, i in v2.restated["energy"]])
    )
    assert restated.height == v2.restatement and restated["electricity_kwh"].null_count() == restated.height
    # on the wire they are complementary suppressions: a reason the center's contract knows
    assert restated["suppressed"].all() and set(restated["suppression"]) == {"secondary"}
    assert ("ALL", "ALL") in v2.restated["energy"]  # the province total's restatement is what is withheld
    for measure in ADDITIVE:
        assert not derivable_across_versions(versions_of([agg1, agg2], [v1, v2], measure)), measure
    assert lone_cell in set(zip(v2.frame["city_code"], v2.frame["industry_code"], strict=True))


def test_an_entry_withheld_in_an_earlier_version_stays_withheld():
    energy = even_energy()
    v1 = release(aggregate(energy), version=1)
    extra = [(f"9137999937{i}{k:06d}", "3702", i) for i in ("26", "31") for k in range(100, 104)]  # 1 -> 5
    grown = pl.concat([energy, energy_rows(extra, seed=3).with_columns(**EVEN)])
    v2 = release(aggregate(grown), held=[v1.held], version=2)
    row = v2.frame.filter((pl.col("city_code") == "3702") & (pl.col("industry_code") == "26")).row(
        0, named=True
    )
    assert row["suppressed"] and row["suppression"] == "secondary" and ("3702", "26") in v2.restated["energy"]
    assert not release(aggregate(grown)).frame.filter(
        (pl.col("city_code") == "3702") & (pl.col("industry_code") == "26")
    )["suppressed"][0]  # on its own it would have been released


def test_held_versions_survive_their_json_record():
    v1 = release(aggregate(even_energy()), version=1)
    back = Held.from_record(v1.held.record())
    assert back == v1.held


@pytest.mark.parametrize("seed", range(24))
def test_random_restatements_keep_every_promise_over_all_versions_the_node_holds(seed):
    """A random province, restated twice by late readings (some in withheld cells, some new enterprises):
    every version passes the policy, and no withheld value or change follows from all versions together."""
    rng = random.Random(1000 + seed)
    ents = random_enterprises(rng)
    energy = energy_rows(ents, seed=seed)
    aggregates, releases = [], []
    for version in (1, 2, 3):
        if version > 1:
            for uscc in rng.sample(
                sorted(set(energy["uscc"])), k=min(len(set(energy["uscc"])), rng.randint(1, 3))
            ):
                energy = late_reading(energy, uscc, round(rng.uniform(50, 3_000_000), 3))
            if rng.random() < 0.3:
                city, industry = rng.choice([(c, i) for _, c, i in ents])
                energy = pl.concat(
                    [
                        energy,
                        energy_rows([(f"91378888{seed:04d}{version:06d}", city, industry)], seed=version),
                    ]
                )
        agg = aggregate(energy, seed=seed)
        rel = release(agg, held=[r.held for r in releases], version=version)
        assert_releasable(agg, decoded(rel.frame))
        for group in groups(MEASURES):  # the node refuses any reason its contract does not know
            assert set(rel.frame[group.reason].drop_nulls()) <= set(REASONS), group.name
        aggregates.append(agg)
        releases.append(rel)
    for measure in ADDITIVE:
        leaks = derivable_across_versions(versions_of(aggregates, releases, measure))
        assert not leaks, (measure, sorted(leaks)[:5])


@pytest.mark.parametrize("seed", range(6))
def test_unchanged_figures_released_against_their_own_version_give_the_same_bytes(seed):
    """No false restatement: the rule adds nothing when nothing changed (the payload hash stays equal)."""
    energy = energy_rows(random_enterprises(random.Random(seed)), seed=seed)
    agg = aggregate(energy, seed=seed)
    v1 = release(agg, version=1)
    again = release(agg, held=[v1.held], version=2)
    assert again.restatement == 0
    assert payload_bytes(again.frame) == payload_bytes(v1.frame)
