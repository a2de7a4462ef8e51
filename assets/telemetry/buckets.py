"""The stable hash that puts an equipment's readings in one shard, kept on bronze rows as shard_bucket."""

from __future__ import annotations

import zlib

import polars as pl

BUCKETS = 256  # bronze rows carry shard_bucket = crc32(equipment id) mod BUCKETS; a shard is a bucket range


def bucket_of(equipment_id: str | None) -> int:
    """The equipment's bucket: crc32 of the trimmed id (stable across processes, machines, versions)."""
    if equipment_id is None:
        return 0
    return zlib.crc32(equipment_id.strip().encode("utf-8")) % BUCKETS


def equipment_buckets(ids: pl.Series) -> pl.Series:
    """`bucket_of` for a column, computed once per distinct id (a day has ~1 id per 400 readings)."""
    distinct = ids.unique()
    mapping = pl.DataFrame(
        {"id": distinct, "bucket": [bucket_of(v) for v in distinct.to_list()]},
        schema={"id": ids.dtype, "bucket": pl.Int16},
    )
    return (
        ids.to_frame("id")
        .join(mapping, on="id", how="left", nulls_equal=True, maintain_order="left")["bucket"]
        .alias("shard_bucket")
    )


# Bronze row groups of this many rows, each chunk sorted by (reading_day, shard_bucket): a shard of a day
# reads the row groups whose statistics overlap its bucket range, not the whole landing day.
BRONZE_ROW_GROUP_ROWS = 65_536


def sorted_for_shards(chunk: pl.DataFrame) -> pl.DataFrame:
    """Bronze rows with their shard_bucket (`equipment_buckets`) ordered by (reading_day, shard_bucket), so
    that row-group statistics separate shards."""
    # one integer key (day, bucket) sorts several times faster than the two columns' row encoding
    return chunk.sort(pl.col("reading_day").cast(pl.Int64) * BUCKETS + pl.col("shard_bucket"))
