"""A restated day through `lakehouse sync` and the real node: what the node holds of every version reveals
no withheld entry's change, and a restatement that cannot be released is held with its reason shown.

The unit tests (tests/unit/test_sync_restatement.py) check the rule on `release` alone; this one checks
that the sync feeds it what the node holds (the ledger's `released` record, per node) and says so.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

from assets.sync.aggregate import ALL, aggregate_day
from tests.e2e.test_sync_cli import CliNode, cli
from tests.e2e.test_sync_node import Province
from tests.unit.test_sync_release import energy_rows, equipment_rows
from tests.unit.test_sync_restatement import ADDITIVE, EVEN, LAYOUT, derivable_across_versions, late_reading
from warehouse.serving.refresh import refresh_views
from warehouse.settings import demo_key

pytestmark = pytest.mark.e2e

DAY = dt.date(2026, 10, 1)
LATE_KWH = 2_061_675.0  # the late reading of issue 21


class Restated(Province):
    """City 3702 has one enterprise in each of its two industries, so all its entries are withheld.

    revision 1: a late file adds LATE_KWH to the lone enterprise of (3702, 26);
    revision 2: that enterprise is moreover reclassified to industry 31, so the entry (3702, 26) is gone.
    """

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        cells = [cell for cell, count in LAYOUT.items() for _ in range(count)]
        self.enterprises = [(f"913700{c}{i}{k:06d}", c, i) for k, (c, i) in enumerate(cells)]
        self.lone = next(u for u, c, i in self.enterprises if (c, i) == ("3702", "26"))

    def day(self, day: dt.date, revision: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        ents = [(u, c, "31" if revision >= 2 and u == self.lone else i) for u, c, i in self.enterprises]
        energy = energy_rows(ents, day=day, seed=day.toordinal()).with_columns(**EVEN)
        if revision >= 1:
            energy = late_reading(energy, self.lone, LATE_KWH)
        return energy, equipment_rows(energy, seed=day.toordinal())


def held_by_node(node: CliNode) -> dict:
    """The node's current version of DAY as a reader sees it: version, rows, and the withheld entries."""
    period = node.period(DAY)
    rows = period["current"]["data"]
    hidden = {(r["city_code"], r["industry_code"]) for r in rows if r["suppressed"]}
    return {"version": period["current_version"], "rows": rows, "hidden": hidden}


def total(held: dict) -> float | None:
    [row] = [r for r in held["rows"] if (r["city_code"], r["industry_code"]) == (ALL, ALL)]
    return row["electricity_kwh"]


def test_a_restatement_through_the_node_hides_a_withheld_change_and_one_that_cannot_be_released_is_held(
    tmp_path,
):
    home = tmp_path / "home"
    province = Restated(home)
    province.build_day(DAY, revision=0)
    refresh_views(home / "warehouse.duckdb", province.lake)
    demo_key(home)
    node = CliNode(home).start().wait_up()
    args = ("sync", "--since", DAY.isoformat(), "--until", DAY.isoformat())
    try:
        first = cli(home, *args, "--node", node.url)
        assert first.returncode == 0 and "acknowledged" in first.stdout, first.stdout + first.stderr
        v1, agg1 = held_by_node(node), aggregate_day(province.con, DAY)
        assert v1["version"] == 1 and {("3702", "26"), ("3702", "31"), ("3702", ALL)} <= v1["hidden"]
        assert total(v1) is not None  # the province total is released in version 1

        province.build_day(DAY, revision=1)  # the late reading, in a withheld entry only
        second = cli(home, *args, "--node", node.url)
        assert second.returncode == 0 and "acknowledged" in second.stdout, second.stdout + second.stderr
        v2, agg2 = held_by_node(node), aggregate_day(province.con, DAY)
        assert v2["version"] == 2
        # released per version alone, the province total would move by exactly the withheld change
        assert agg2.filter(pl.col("level") == "province_total")["electricity_kwh"][0] - total(
            v1
        ) == pytest.approx(LATE_KWH)
        assert total(v2) is None  # its restatement is withheld instead ...
        for measure in ADDITIVE:  # ... and nothing withheld follows from both versions the node holds
            versions = [
                (dict(zip(zip(a["city_code"], a["industry_code"], strict=True), a[measure], strict=True)), h)
                for a, h in ((agg1, v1["hidden"]), (agg2, v2["hidden"]))
            ]
            assert not derivable_across_versions(versions), measure
        # the user and the catalog are told why the totals are withheld
        assert re.search(r"\b\d+ \(\d+ restatement\)", second.stdout), second.stdout
        restated = province.ledger().filter(pl.col("version") == 2).row(0, named=True)
        assert restated["status"] == "acknowledged" and "withheld" in restated["message"]

        province.build_day(DAY, revision=2)  # an entry withheld in versions 1 and 2 is gone
        third = cli(home, *args, "--node", node.url)
        assert third.returncode == 0, third.stdout + third.stderr
        assert "held" in third.stdout and "restatement held" in third.stdout
        assert held_by_node(node)["version"] == 2  # nothing was sent
        held = province.ledger().filter(pl.col("status") == "held").row(0, named=True)
        assert held["version"] == 3 and "('3702', '26')" in held["message"]
    finally:
        node.stop()
