"""landing/energy_reports/*.csv -> silver.energy_report and quarantine.energy_report.

The landing contract (UTF-8 CSV, header on line 1, one row per enterprise and report):
uscc, month (YYYY-MM), from_day, through_day (YYYY-MM-DD, local days the figures cover), electricity_kwh,
natural_gas_m3, coal_t, energy_tce, reported_at (ISO 8601, with offset or local Asia/Shanghai time).
Extra columns are ignored. A row failing a rule of quality.rules.ENERGY_REPORT_ROW_RULES is quarantined
with that rule's id; a file that cannot be read becomes one quarantine row (line 0). Nothing is dropped:
per file, landed = clean + quarantined (catalog.reconciliation).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assets.gate import Gated
from assets.trading.circulation import parse_ts
from quality.checks import Reconciliation
from quality.rules import ENERGY_REPORT_FILE_RULE, ENERGY_REPORT_ROW_RULES, first_failed_rule
from warehouse.codes import uscc_problem
from warehouse.contracts import ENERGY_REPORT_FIELDS as FIELDS
from warehouse.registry import ENERGY_REPORT, QUARANTINE_ENERGY_REPORT

FIGURES = ("electricity_kwh", "natural_gas_m3", "coal_t", "energy_tce")
_KEY = ["uscc", "month", "through_day"]


class ReportFileError(ValueError):
    """A report file that cannot be read at all."""


@dataclass
class ReportBuild:
    clean: pl.DataFrame  # silver.energy_report
    quarantined: pl.DataFrame  # quarantine.energy_report
    reasons: dict[str, int] = field(default_factory=dict)
    parts: dict[str, Reconciliation] = field(default_factory=dict)  # per source file

    def gated(self, agreement: pl.DataFrame) -> Gated:
        """What silver.energy_report's checks see: the clean reports reconciled per file, the row rules'
        counts, and the comparison with the monitored daily sums (daily_sums_agree_with_monthly)."""
        checks = {"row_rule_counts": self.reasons, "context": {"agreement": agreement}}
        return Gated(ENERGY_REPORT, self.clean, sources=self.parts, checks=checks)


def read_report_file(path: Path) -> pl.DataFrame:
    """Every data line of a report file as text, with its line number, field count and JSON payload."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ReportFileError(f"{path.name}: not UTF-8 ({err.reason} at byte {err.start})") from err
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        raise ReportFileError(f"{path.name}: empty, expected the header {','.join(FIELDS)} on line 1")
    header = [h.strip().lower() for h in lines[0]]
    missing = [f for f in FIELDS if f not in header]
    if missing:
        raise ReportFileError(f"{path.name} line 1: header lacks {', '.join(missing)}")
    pos = [header.index(f) for f in FIELDS]
    rows = [(n, r) for n, r in enumerate(lines[1:], start=2) if any(c.strip() for c in r)]
    return pl.DataFrame(
        {
            "line_no": [n for n, _ in rows],
            "fields": [len(r) for _, r in rows],
            "header_fields": [len(header)] * len(rows),
            **{f: [r[i] if i < len(r) else None for _, r in rows] for f, i in zip(FIELDS, pos, strict=True)},
            "payload": [json.dumps(dict(zip(header, r, strict=False)), ensure_ascii=False) for _, r in rows],
        },
        schema={
            "line_no": pl.Int64,
            "fields": pl.Int64,
            "header_fields": pl.Int64,
            **dict.fromkeys(FIELDS, pl.String),
            "payload": pl.String,
        },
    )


def prepare_reports(raw: pl.DataFrame) -> pl.DataFrame:
    """Typed report columns and the flags the row rules read (uscc_problem, period_ok, numbers_ok)."""
    day = {
        c: pl.col(c).str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
        for c in ("from_day", "through_day")
    }
    typed = raw.with_columns(
        uscc=pl.col("uscc").str.strip_chars().str.to_uppercase(),
        month=pl.col("month").str.strip_chars(),
        **day,
        **{f: pl.col(f).str.strip_chars().cast(pl.Float64, strict=False) for f in FIGURES},
        reported_at=parse_ts("reported_at"),
    )
    in_month = [pl.col(c).dt.strftime("%Y-%m") == pl.col("month") for c in ("from_day", "through_day")]
    return typed.with_columns(
        malformed=pl.col("fields") != pl.col("header_fields"),
        uscc_problem=pl.col("uscc").map_elements(uscc_problem, return_dtype=pl.String, skip_nulls=False),
        period_ok=(
            pl.col("month").str.contains(r"^\d{4}-(0[1-9]|1[0-2])$")
            & pl.all_horizontal(in_month)
            & (pl.col("from_day") <= pl.col("through_day"))
            & pl.col("reported_at").is_not_null()
        ).fill_null(False),
        numbers_ok=pl.all_horizontal(
            [pl.col(f).is_not_null() & pl.col(f).is_not_nan() & (pl.col(f) >= 0) for f in FIGURES]
        ).fill_null(False),
        report_kind=pl.when(pl.col("through_day") == pl.col("through_day").dt.month_end())
        .then(pl.lit("monthly"))
        .otherwise(pl.lit("flash")),
    )


def validate_reports(raw: pl.DataFrame) -> pl.DataFrame:
    """`raw` of one or more files (with source_file) -> rows with `reason` (null for clean ones).

    Of several valid filings of the same enterprise, month and through_day, the latest (reported_at, then
    file and line) counts; the earlier ones are quarantined as report_superseded.
    """
    rows = prepare_reports(raw)
    before = first_failed_rule(tuple(r for r in ENERGY_REPORT_ROW_RULES if r.id != "report_superseded"))
    rows = rows.with_columns(valid=before.is_null()).sort(
        "reported_at", "source_file", "line_no", nulls_last=False
    )
    rows = rows.with_columns(
        superseded=pl.col("valid") & ~pl.struct(*_KEY, "valid").is_last_distinct(),
    )
    return rows.with_columns(reason=first_failed_rule(ENERGY_REPORT_ROW_RULES)).sort("source_file", "line_no")


def load_reports(folder: Path, *, relative_to: Path) -> ReportBuild:
    """All report files under `folder` (*.csv, sorted) -> clean rows, quarantine, counts per reason and file."""
    files = sorted(p for p in folder.glob("*.csv") if p.is_file()) if folder.is_dir() else []
    frames, file_rows, parts = [], [], {}
    for path in files:
        source = str(path.relative_to(relative_to))
        try:
            raw = read_report_file(path)
        except ReportFileError as err:
            file_rows.append(
                {
                    "source_file": source,
                    "line_no": 0,
                    "reason": ENERGY_REPORT_FILE_RULE.id,
                    "uscc": None,
                    "payload": json.dumps({"error": str(err)}, ensure_ascii=False),
                }
            )
            parts[source] = Reconciliation(1, 0, 1, 0)
            continue
        frames.append(raw.with_columns(source_file=pl.lit(source)))
    raw = pl.concat(frames) if frames else read_empty()
    rows = validate_reports(raw)
    good, bad = rows.filter(pl.col("reason").is_null()), rows.filter(pl.col("reason").is_not_null())
    for source in rows["source_file"].unique().sort().to_list():
        in_file = rows.filter(pl.col("source_file") == source)
        n_bad = int(in_file["reason"].is_not_null().sum())
        parts[source] = Reconciliation(in_file.height, in_file.height - n_bad, n_bad, 0)
    quarantined = pl.concat(
        [
            bad.select(list(QUARANTINE_ENERGY_REPORT.schema)),
            pl.DataFrame(file_rows, schema=QUARANTINE_ENERGY_REPORT.schema),
        ]
    ).cast(dict(QUARANTINE_ENERGY_REPORT.schema))  # type: ignore[arg-type]
    clean = ENERGY_REPORT.conform(good)
    reasons = dict(quarantined.group_by("reason").len().sort("reason").iter_rows())
    return ReportBuild(
        clean.sort("month", "uscc", "through_day"), quarantined.sort("source_file", "line_no"), reasons, parts
    )


def read_empty() -> pl.DataFrame:
    """The shape of read_report_file's output, with no rows (no report files landed yet)."""
    schema = {"line_no": pl.Int64, "fields": pl.Int64, "header_fields": pl.Int64}
    schema |= dict.fromkeys(FIELDS, pl.String) | {"payload": pl.String, "source_file": pl.String}
    return pl.DataFrame(schema=schema)
