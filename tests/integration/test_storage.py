"""Delta writes: partition replace is exact and atomic; a killed writer leaves the last good version."""

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time

import polars as pl

from warehouse.registry import QUARANTINE_TELEMETRY
from warehouse.storage import Lake

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


def rows(day: dt.date, n: int, reason: str = "bad_value") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "day": [day] * n,
            "reason": [reason] * n,
            "source_file": ["f"] * n,
            "line_no": list(range(n)),
            "ingest_run_id": ["r"] * n,
            "payload": ["{}"] * n,
            "quarantined_run_id": ["r"] * n,
        }
    )


def test_replace_partition_touches_only_that_partition_and_records_the_run(tmp_path):
    lake = Lake(tmp_path)
    lake.replace_partition(QUARANTINE_TELEMETRY, D1, rows(D1, 3), run_id="run-a")
    lake.replace_partition(QUARANTINE_TELEMETRY, D2, rows(D2, 2), run_id="run-a")
    lake.replace_partition(QUARANTINE_TELEMETRY, D1, rows(D1, 1, "value_missing"), run_id="run-b")
    df = lake.read(QUARANTINE_TELEMETRY)
    assert df.filter(pl.col("day") == D1)["reason"].to_list() == ["value_missing"]
    assert df.filter(pl.col("day") == D2).height == 2
    commit = lake.last_commit(QUARANTINE_TELEMETRY)
    assert commit["run_id"] == "run-b" and commit["operationMetrics"]["num_removed_files"] == 1


def test_replacing_twice_with_the_same_rows_gives_the_same_content(tmp_path):
    lake = Lake(tmp_path)
    for _ in range(2):
        lake.replace_partition(QUARANTINE_TELEMETRY, D1, rows(D1, 5), run_id="r")
    assert lake.read(QUARANTINE_TELEMETRY).sort("line_no").equals(rows(D1, 5))


WRITER = textwrap.dedent(
    """
    import datetime as dt, sys, polars as pl
    from pathlib import Path
    from warehouse.storage import Lake
    from warehouse.registry import QUARANTINE_TELEMETRY
    n = 8_000_000
    i = pl.int_range(0, n, eager=True)
    df = pl.DataFrame({"day": pl.repeat(dt.date(2026, 11, 1), n, eager=True), "reason": pl.repeat("crash", n, eager=True),
        "source_file": pl.repeat("f", n, eager=True), "line_no": i, "ingest_run_id": pl.repeat("r", n, eager=True),
        "payload": i.cast(pl.String) + "-payload-padding-to-make-the-write-take-a-while",
        "quarantined_run_id": pl.repeat("r", n, eager=True)})
    print("writing", flush=True)
    Lake(Path(sys.argv[1])).replace_partition(QUARANTINE_TELEMETRY, dt.date(2026, 11, 1), df, run_id="crash")
    print("committed", flush=True)
    """
)


def test_a_writer_killed_mid_write_leaves_the_last_good_version_and_a_rerun_completes(tmp_path):
    lake = Lake(tmp_path)
    lake.replace_partition(QUARANTINE_TELEMETRY, D1, rows(D1, 3), run_id="good")
    version = lake.version(QUARANTINE_TELEMETRY)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(0.4)  # building and writing 8M rows takes seconds; kill it before the commit
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert lake.version(QUARANTINE_TELEMETRY) == version
    assert lake.read(QUARANTINE_TELEMETRY)["reason"].to_list() == ["bad_value"] * 3
    lake.replace_partition(QUARANTINE_TELEMETRY, D1, rows(D1, 4), run_id="rerun")
    assert lake.read(QUARANTINE_TELEMETRY).height == 4


def test_staged_files_are_invisible_until_one_commit_replaces_the_partition_with_all_of_them(tmp_path):
    lake = Lake(tmp_path)
    lake.replace_partition(QUARANTINE_TELEMETRY, D1, rows(D1, 3), run_id="old")
    lake.replace_partition(QUARANTINE_TELEMETRY, D2, rows(D2, 2), run_id="old")
    before = lake.version(QUARANTINE_TELEMETRY)
    staged = [
        *lake.stage_files(QUARANTINE_TELEMETRY, D1, rows(D1, 4, "a"), run_id="new", tag="s0"),
        *lake.stage_files(QUARANTINE_TELEMETRY, D1, rows(D1, 5, "b"), run_id="new", tag="s1"),
    ]
    assert lake.read(QUARANTINE_TELEMETRY, partition=D1)["reason"].to_list() == ["bad_value"] * 3
    version = lake.commit_partition(QUARANTINE_TELEMETRY, D1, staged, run_id="new")
    assert version == before + 1
    day1 = lake.read(QUARANTINE_TELEMETRY, partition=D1)
    assert sorted(day1["reason"].to_list()) == ["a"] * 4 + ["b"] * 5
    assert lake.read(QUARANTINE_TELEMETRY, partition=D2).height == 2  # the other day untouched
    assert lake.last_commit(QUARANTINE_TELEMETRY)["run_id"] == "new"
    # an uncommitted file (a dead build's) is an orphan; the previous version's files are not
    lake.stage_files(QUARANTINE_TELEMETRY, D1, rows(D1, 1, "dead"), run_id="dead", tag="s0")
    assert lake.remove_orphans(QUARANTINE_TELEMETRY, D1) == 1
    from deltalake import DeltaTable

    old = pl.from_arrow(DeltaTable(str(lake.path(QUARANTINE_TELEMETRY)), version=before).to_pyarrow_table())
    assert old.filter(pl.col("day") == D1).height == 3  # time travel to the previous version still reads


def test_a_streamed_append_is_one_commit_over_every_partition_and_nothing_if_the_stream_fails(tmp_path):
    lake = Lake(tmp_path)
    lake.replace_partition(QUARANTINE_TELEMETRY, D1, rows(D1, 3), run_id="old")
    before = lake.version(QUARANTINE_TELEMETRY)

    def failing():
        yield rows(D1, 2, "a")
        raise RuntimeError("the landing folder went away")

    with contextlib.suppress(RuntimeError):
        lake.append_stream(QUARANTINE_TELEMETRY, failing(), run_id="dead")
    assert lake.version(QUARANTINE_TELEMETRY) == before  # files written, none committed
    assert lake.read(QUARANTINE_TELEMETRY).height == 3
    mixed = pl.concat([rows(D1, 2, "b"), rows(D2, 4, "c")])  # one frame over two partitions
    version = lake.append_stream(QUARANTINE_TELEMETRY, iter([mixed, rows(D2, 1, "d")]), run_id="new")
    assert version == before + 1
    got = lake.read(QUARANTINE_TELEMETRY)
    assert got.group_by("day", "reason").len().sort("day", "reason").rows() == [
        (D1, "b", 2),
        (D1, "bad_value", 3),
        (D2, "c", 4),
        (D2, "d", 1),
    ]
    assert lake.last_commit(QUARANTINE_TELEMETRY)["run_id"] == "new"
    assert lake.remove_orphans(QUARANTINE_TELEMETRY, D1) == 1  # the failed stream's file


def test_a_streamed_append_to_a_table_missing_a_declared_column_adds_the_column(tmp_path):
    lake = Lake(tmp_path)
    old = rows(D1, 2).drop("payload")
    from deltalake import write_deltalake

    write_deltalake(str(lake.path(QUARANTINE_TELEMETRY)), old.to_arrow(), partition_by=["day"])
    lake.append_stream(QUARANTINE_TELEMETRY, iter([rows(D1, 1, "new")]), run_id="new")
    got = lake.read(QUARANTINE_TELEMETRY).sort("reason")
    assert got["payload"].to_list() == [None, None, "{}"]


def test_the_writer_of_a_partition_comes_from_the_log_and_a_missing_partition_has_none(tmp_path):
    lake = Lake(tmp_path)
    lake.overwrite(QUARANTINE_TELEMETRY, rows(D1, 2), run_id="whole")  # a whole-table write
    assert lake.partition_writer(QUARANTINE_TELEMETRY, D1)["run_id"] == "whole"
    assert lake.partition_writer(QUARANTINE_TELEMETRY, D2) is None  # the whole-table write holds no D2
    lake.replace_partition(QUARANTINE_TELEMETRY, D2, rows(D2, 1), run_id="day")
    assert lake.partition_writer(QUARANTINE_TELEMETRY, D2)["run_id"] == "day"
    assert lake.partition_writer(QUARANTINE_TELEMETRY, D1)["run_id"] == "whole"
