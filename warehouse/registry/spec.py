"""The declaration types every table is written in: Column, TableSpec and their shared pieces."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")


DAILY = dt.timedelta(hours=26)  # built once a local day (01:00-01:30 local), with two hours' slack


LAYERS = ("bronze", "silver", "theme", "industry", "graph", "quarantine", "catalog")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    description: str
    grade: int = 1  # column grade: 1 low, 2 medium (personal data >= 2), 3 high
    pii: str | None = None  # personal data kind (warehouse.privacy.PII_KINDS): masked in views and themes


@dataclass(frozen=True)
class TableSpec:
    name: str  # "<layer>.<table>"
    columns: tuple[Column, ...]
    description: str
    domain: str  # key of DATA_DOMAINS
    grade: int  # 1/2/3 per the MIIT guide
    owner: str
    partition_by: str | None = None
    key: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    # Columns that say who wrote a row and when, not what it holds: an upsert whose rows differ only in
    # these commits nothing, so a re-run with nothing new leaves the table's version where it was.
    record_columns: tuple[str, ...] = ()
    # Columns analysts filter and group on: the nightly housekeeping Z-orders a partition's files by them
    # when it rewrites them (compaction), so readers skip row groups by their statistics.
    cluster_by: tuple[str, ...] = ()
    # How often the table is expected to change: the Dagster UI flags it stale (freshness policy) when
    # its last materialization is older. None: no expectation (built on demand).
    fresh_within: dt.timedelta | None = None
    # The Dagster asset group when it is not the layer: groups follow the data's direction in the
    # lineage view, so a table built from a later layer's output gets a group of its own.
    group: str | None = None
    # One row per reading (a province lands ~144M a day): the role files may hold only the recent days of
    # it, by its date partition (LAKEHOUSE_SERVE_READINGS_DAYS); the lake keeps everything.
    readings: bool = False
    # Files laid out by month, not by day: the day stays the unit a build replaces (`partition_by`), but
    # the Delta table has no partition column, a day's build rewrites only the files holding that day, and
    # housekeeping merges each month's files into one. Analysts' views then read ~12 files a year, not 365
    # (DuckDB pays per file). For tables of modest rows per day that analysts query over long ranges.
    month_files: bool = False

    def __post_init__(self) -> None:
        if self.month_files and (self.partition_by is None or self.schema.get(self.partition_by) != pl.Date):
            raise ValueError(f"{self.name}: month_files needs a Date partition column")

    @property
    def delta_partition(self) -> str | None:
        """The Delta table's partition column: the day, unless the files are laid out by month."""
        return None if self.month_files else self.partition_by

    @property
    def asset_group(self) -> str:
        return self.group or self.layer

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def short_name(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def asset_key(self) -> list[str]:
        return self.name.split(".")

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def path(self, lake_root: Path) -> Path:
        return lake_root / self.layer / self.short_name

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """`df` as this table holds it: exactly its columns, in its order, cast to its types."""
        return df.select(list(self.schema)).cast(dict(self.schema))  # type: ignore[arg-type]


def cols(*specs: tuple) -> tuple[Column, ...]:
    return tuple(Column(*s) for s in specs)


LINEAGE_COLS = (
    ("source_file", pl.String, "Landing file the record came from, relative to landing/"),
    ("line_no", pl.Int64, "1-based line (CSV/JSONL, header excluded) or row (Parquet) in the source file"),
    ("ingest_run_id", pl.String, "Dagster run that ingested the file"),
)


QUALITY_COUNT_COLS = (
    ("readings_good", pl.Int64, "Readings flagged good"),
    ("readings_uncertain", pl.Int64, "Readings flagged uncertain"),
    ("readings_bad", pl.Int64, "Readings flagged bad"),
)
