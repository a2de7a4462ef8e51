"""A month synced, then restated as a whole: every day goes out once more as version 2, nothing else does."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.e2e.test_sync_node import KEY, NodeProcess, Province, assert_node_matches, config

pytestmark = pytest.mark.e2e

MONTH = [dt.date(2026, 9, 1) + dt.timedelta(days=i) for i in range(30)]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = NodeProcess(tmp_path_factory.mktemp("month-node") / "home", f"37={KEY}").start()
    yield n
    n.stop()


def test_a_restated_month_is_sent_again_as_version_2_and_the_node_holds_exactly_that(node, tmp_path):
    province = Province(tmp_path)
    province.build_all(MONTH)
    node.wait_up()
    t0 = time.perf_counter()
    first = province.sync(MONTH, config(node))
    first_s = time.perf_counter() - t0
    assert {o.status for o in first} == {"acknowledged"} and {o.version for o in first} == {1}
    province.build_all(MONTH, revision=1)  # the whole month rebuilt with other figures
    t1 = time.perf_counter()
    restated = province.sync(MONTH, config(node))
    restated_s = time.perf_counter() - t1
    assert {o.status for o in restated} == {"acknowledged"} and {o.version for o in restated} == {2}
    assert all(o.restatement for o in restated)
    assert node.batches() == 60  # 30 days x 2 versions, not one more
    assert_node_matches(node, province, MONTH)
    http = sorted(o.latency_ms for o in restated)
    print(
        f"\nmonth: first sync {first_s:.1f}s, restatement {restated_s:.1f}s for {len(MONTH)} days "
        f"({restated_s / len(MONTH) * 1000:.0f} ms/day incl. ledger), HTTP round trip median {http[15]:.0f} ms"
    )
