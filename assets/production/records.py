"""Production landing files -> silver.production + quarantine.production for one local day.

Plants export one record per production line and local day (landing/production/*.csv, the fields of
simulator.production.PRODUCTION_FIELDS). Exact duplicates (the same record sent twice) are dropped and
counted; every other record is clean or quarantined under the first rule of
quality.rules.PRODUCTION_ROW_RULES it fails, so landed = clean + quarantined + duplicates per day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from assets.gate import Gated
from quality.checks import Reconciliation
from quality.rules import PRODUCTION_ROW_RULES, first_failed_rule
from warehouse.contracts import PRODUCTION_FIELDS as FIELDS
from warehouse.domain import TIMEZONE
from warehouse.registry import QUARANTINE_PRODUCTION, SILVER_PRODUCTION

FIGURES = ("planned_minutes", "run_minutes", "ideal_cycle_s", "total_units", "good_units")


def read_production(landing: Path) -> pl.DataFrame:
    """Every record under landing/production as text, with its file, line and routing day.

    The routing day is the record's own day; a record whose day does not parse goes to the day in its
    file's name, else to the local date of the file's modification time, so no record is lost.
    """
    frames = []
    for path in sorted((landing / "production").rglob("*.csv")):
        df = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy", truncate_ragged_lines=True)
        df = df.with_columns(pl.lit(None, pl.String).alias(f) for f in FIELDS if f not in df.columns)
        mtime_day = dt.datetime.fromtimestamp(path.stat().st_mtime, ZoneInfo(TIMEZONE)).date()
        frames.append(
            df.select(FIELDS)
            .with_row_index("line_no", offset=2)
            .with_columns(
                pl.col("line_no").cast(pl.Int64),
                source_file=pl.lit(str(path.relative_to(landing))),
                file_day=pl.lit(path.stem).str.to_date(strict=False).fill_null(mtime_day),
            )
        )
    if not frames:
        return pl.DataFrame(
            schema={**dict.fromkeys(FIELDS, pl.String), "line_no": pl.Int64, "source_file": pl.String}
        ).with_columns(route_day=pl.lit(None, pl.Date))
    raw = pl.concat(frames, how="vertical")
    day = pl.col("day").str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    return raw.with_columns(route_day=pl.coalesce(day, pl.col("file_day"))).drop("file_day")


@dataclass
class ProductionResult:
    clean: pl.DataFrame
    quarantined: pl.DataFrame
    reasons: dict[str, int]
    landed: int
    duplicates: int

    @property
    def reconciliation(self) -> Reconciliation:
        return Reconciliation(self.landed, self.clean.height, self.quarantined.height, self.duplicates)

    def gated(self, partition: str) -> Gated:
        """What silver.production's checks see for the day: the clean records, the day's reconciliation and
        the row rules' counts over the records they judged (exact duplicates are dropped, not judged)."""
        checks = {"row_rule_counts": self.reasons, "evaluated": self.landed - self.duplicates}
        return Gated(SILVER_PRODUCTION, self.clean, partition, self.reconciliation, checks=checks)


def prepare_production(raw: pl.DataFrame, equipment: pl.DataFrame) -> pl.DataFrame:
    """Typed figures and the columns the row rules read (fields_ok, master_uscc, key_count)."""
    lines = equipment.select("line_id", pl.col("uscc").alias("master_uscc")).unique("line_id")
    text = [pl.col(c).str.strip_chars().replace("", None) for c in ("line_id", "uscc", "product", "unit")]
    typed = raw.with_columns(
        *text,
        *[pl.col(c).str.strip_chars().cast(pl.Float64, strict=False).alias(c) for c in FIGURES],
        day=pl.col("day").str.strip_chars().str.to_date("%Y-%m-%d", strict=False),
    ).with_columns(
        fields_ok=pl.all_horizontal(
            pl.col("line_id", "uscc", "day", *FIGURES).is_not_null(),
            *[pl.col(c).is_finite() for c in FIGURES],
        )
    )
    typed = typed.join(lines, on="line_id", how="left")
    # A line-day with two different records is a conflict, counted among records passing the other rules.
    others_pass = first_failed_rule(PRODUCTION_ROW_RULES[:-1]).is_null()
    return typed.with_columns(key_count=others_pass.sum().over("line_id", "day"))


def clean_production(
    raw: pl.DataFrame, equipment: pl.DataFrame, *, day: dt.date, run_id: str
) -> ProductionResult:
    """One local day's records split into clean, quarantined (with reason) and dropped exact duplicates."""
    routed = raw.filter(pl.col("route_day") == day).sort("source_file", "line_no")
    unique = routed.unique(list(FIELDS), keep="first", maintain_order=True)
    prepared = prepare_production(unique, equipment).with_columns(
        reason=first_failed_rule(PRODUCTION_ROW_RULES)
    )
    clean = (
        prepared.filter(pl.col("reason").is_null())
        .select(list(SILVER_PRODUCTION.schema))
        .cast(dict(SILVER_PRODUCTION.schema))  # type: ignore[arg-type]
        .sort("line_id")
    )
    bad = prepared.filter(pl.col("reason").is_not_null())
    payload = unique.select("source_file", "line_no", payload=pl.struct(list(FIELDS)).struct.json_encode())
    quarantined = (
        bad.select("source_file", "line_no", "reason")
        .join(payload, on=["source_file", "line_no"], how="left")
        .with_columns(day=pl.lit(day), quarantined_run_id=pl.lit(run_id))
        .select(list(QUARANTINE_PRODUCTION.schema))
        .cast(dict(QUARANTINE_PRODUCTION.schema))  # type: ignore[arg-type]
        .sort("source_file", "line_no")
    )
    reasons = dict(quarantined.group_by("reason").len().sort("reason").iter_rows())
    return ProductionResult(clean, quarantined, reasons, routed.height, routed.height - unique.height)
