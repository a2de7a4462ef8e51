"""A staged file's Delta statistics read from its Parquet footer equal those computed from its frame."""

import datetime as dt
import json
import math

import polars as pl
import pytest

from warehouse.lake_files import file_stats, footer_stats

UTC = dt.UTC


def frames() -> dict[str, pl.DataFrame]:
    n = 200_000  # several row groups of 65,536
    base = pl.DataFrame(
        {
            "day": [dt.date(2026, 11, 2)] * n,
            "equipment_id": [f"EQ{i % 997:06d}" for i in range(n)],
            "ts_utc": [dt.datetime(2026, 11, 1, 16, tzinfo=UTC) + dt.timedelta(seconds=i) for i in range(n)],
            "value": [float(i) / 7 for i in range(n)],
            "line_no": list(range(n)),
            "bucket": pl.Series([i % 256 for i in range(n)], dtype=pl.Int16),
            "source_file": [
                f"telemetry/GW{i // 2000:08d}/2026-11-02/some-long-file-name.csv" for i in range(n)
            ],
            "reason": [None if i % 3 else "out_of_range" for i in range(n)],
            "empty": pl.Series([None] * n, dtype=pl.String),
            "local": [dt.datetime(2026, 11, 2, 8) + dt.timedelta(minutes=i) for i in range(n)],
        }
    )
    return {
        "many row groups": base,
        "one row": base.head(1),
        "nulls at the start of a group": base.with_columns(
            value=pl.when(pl.int_range(pl.len()) < 70_000).then(None).otherwise(pl.col("value"))
        ),
        "a NaN among values": base.with_columns(
            value=pl.when(pl.int_range(pl.len()) == 5).then(math.nan).otherwise(pl.col("value"))
        ),
        "no stat columns": base.select(flag=pl.col("line_no") % 2 == 0),
    }


@pytest.mark.parametrize("name", list(frames()))
def test_footer_statistics_equal_the_frames(tmp_path, name):
    df = frames()[name]
    path = tmp_path / "f.parquet"
    df.write_parquet(path, compression="snappy", statistics=True, row_group_size=65_536)
    from_footer = footer_stats(str(path), df.schema)
    assert from_footer is not None
    assert json.loads(from_footer) == json.loads(file_stats(df))


def test_a_type_the_footer_does_not_cover_is_left_to_the_frame(tmp_path):
    df = pl.DataFrame({"amount": pl.Series([1, 2], dtype=pl.Decimal(10, 2))})
    path = tmp_path / "f.parquet"
    df.write_parquet(path, statistics=True)
    assert footer_stats(str(path), df.schema) is None
