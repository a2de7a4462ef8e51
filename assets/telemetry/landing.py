"""Reading plant-gateway landing files into bronze rows, per the landing contract.

Contract: one reading per record with fields uscc, equipment_id, metric, ts, value, unit, in
landing/telemetry/**/*.csv|*.jsonl|*.parquet. Files that cannot be read at all are rejected with a
reason; single bad lines are kept (as `raw_line`) so the silver build quarantines them.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from warehouse.domain import TIMEZONE

FIELDS = ("uscc", "equipment_id", "metric", "ts", "value", "unit")
OPTIONAL_FIELDS = ("quality",)  # source quality good/uncertain/bad (collectors: OPC UA status), else null
SUFFIXES = (".csv", ".jsonl", ".parquet")
_TZ = ZoneInfo(TIMEZONE)


class RejectedFile(Exception):
    """A landing file that cannot be parsed at all; `reason` is a short code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class LandedFile:
    rows: pl.DataFrame  # FIELDS as strings + line_no + raw_line
    notes: list[str] = field(default_factory=list)


def list_landing_files(telemetry_dir: Path) -> list[Path]:
    if not telemetry_dir.is_dir():
        return []
    return sorted(p for p in telemetry_dir.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def landing_date(path: Path) -> dt.date:
    """Local (Asia/Shanghai) date of the file's modification time: when the gateway dropped it."""
    return dt.datetime.fromtimestamp(path.stat().st_mtime, _TZ).date()


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK) as plants often send."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise RejectedFile("undecodable", f"{name}: neither UTF-8 nor GB18030 ({exc})") from exc


def _header_check(columns: list[str], name: str) -> list[str]:
    cols = [c.strip().lower() for c in columns]
    missing = [f for f in FIELDS if f not in cols]
    if missing:
        raise RejectedFile("missing_columns", f"{name}: required columns {missing} absent (has {columns})")
    extra = [c for c in cols if c not in FIELDS and c not in OPTIONAL_FIELDS]
    return [f"extra_columns: {', '.join(extra)} (ignored)"] if extra else []


def _frame(records: list[list[str | None]], line_nos: list[int], raw: list[str | None]) -> pl.DataFrame:
    cols = list(zip(*records, strict=True)) if records else [[] for _ in FIELDS]
    data = {f: pl.Series(f, list(c), dtype=pl.String) for f, c in zip(FIELDS, cols, strict=True)}
    return pl.DataFrame(
        {**data, "line_no": pl.Series(line_nos, dtype=pl.Int64), "raw_line": pl.Series(raw, dtype=pl.String)}
    )


def parse_csv(text: str, name: str) -> LandedFile:
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise RejectedFile("empty_file", f"{name}: no header")
    header = next(csv.reader([lines[0]]))
    notes = _header_check(header, name)
    index = [[c.strip().lower() for c in header].index(f) for f in FIELDS]
    width = len(header)
    body = lines[1:]
    # Fast path: a column of lines split on commas; only quoted or ragged lines go through csv.
    frame = pl.DataFrame({"line": body}, schema={"line": pl.String}).with_row_index("i", offset=1)
    frame = frame.with_columns(parts=pl.col("line").str.split(","))
    simple = frame.filter(
        ~pl.col("line").str.contains('"', literal=True) & (pl.col("parts").list.len() == width)
    )
    rest = frame.filter(
        pl.col("line").str.contains('"', literal=True) | (pl.col("parts").list.len() != width)
    )
    out = simple.select(
        *[pl.col("parts").list.get(j).alias(f) for f, j in zip(FIELDS, index, strict=True)],
        pl.col("i").cast(pl.Int64).alias("line_no"),
        pl.lit(None, dtype=pl.String).alias("raw_line"),
    )
    if rest.height:
        recs, nos, raws = [], [], []
        for i, line in rest.select("i", "line").iter_rows():
            parsed = next(csv.reader([line]), [])
            nos.append(i)
            if len(parsed) == width:
                recs.append([parsed[j] for j in index])
                raws.append(None)
            else:
                recs.append([None] * len(FIELDS))
                raws.append(line)
        out = pl.concat([out, _frame(recs, nos, raws)]).sort("line_no")
    # CSV has no null: an empty field is an empty string, which silver reads as missing.
    return LandedFile(out, notes)


def parse_jsonl(text: str, name: str) -> LandedFile:
    """Fast path: polars reads a well-formed file in one go; a file with a broken line goes line by line."""
    if "\n\n" not in text.strip("\n"):
        try:
            df = pl.read_ndjson(io.StringIO(text), schema=dict.fromkeys(FIELDS, pl.String))
        except Exception:  # a broken line: fall through to the line-by-line reader
            pass
        else:
            if df.height:
                first = json.loads(text[: text.index("\n")] if "\n" in text else text)
                extra = sorted(k for k in first if k not in FIELDS) if isinstance(first, dict) else []
                notes = [f"extra_columns: {', '.join(extra)} (ignored)"] if extra else []
                out = df.with_columns(
                    pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line_no"),
                    pl.lit(None, dtype=pl.String).alias("raw_line"),
                )
                return LandedFile(out, notes)
    return _parse_jsonl_lines(text, name)


def _parse_jsonl_lines(text: str, name: str) -> LandedFile:
    recs, nos, raws = [], [], []
    seen_extra: set[str] = set()
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError:
            recs.append([None] * len(FIELDS))
            nos.append(i)
            raws.append(line)
            continue
        seen_extra.update(k for k in obj if k not in FIELDS)
        recs.append([None if obj.get(f) is None else str(obj.get(f)) for f in FIELDS])
        nos.append(i)
        raws.append(None)
    if not nos:
        raise RejectedFile("empty_file", f"{name}: no records")
    notes = [f"extra_columns: {', '.join(sorted(seen_extra))} (ignored)"] if seen_extra else []
    return LandedFile(_frame(recs, nos, raws), notes)


def parse_parquet(data: bytes, name: str) -> LandedFile:
    try:
        df = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several error types for corrupt files
        raise RejectedFile("unreadable_parquet", f"{name}: {exc}") from exc
    notes = _header_check(df.columns, name)
    df = df.rename({c: c.strip().lower() for c in df.columns})
    out = df.select(
        *[pl.col(f).cast(pl.String) for f in FIELDS + OPTIONAL_FIELDS if f in FIELDS or f in df.columns],
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("line_no"),
        pl.lit(None, dtype=pl.String).alias("raw_line"),
    )
    return LandedFile(out, notes)


def read_landing_file(path: Path, name: str, data: bytes | None = None) -> LandedFile:
    """Parse one landing file, or raise RejectedFile naming the file and what was expected."""
    data = path.read_bytes() if data is None else data
    if not data.strip():
        raise RejectedFile("empty_file", f"{name}: 0 bytes of content")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        landed = parse_parquet(data, name)
    else:
        text = decode_text(data, name)
        landed = parse_csv(text, name) if suffix == ".csv" else parse_jsonl(text, name)
    missing = [
        pl.lit(None, dtype=pl.String).alias(f) for f in OPTIONAL_FIELDS if f not in landed.rows.columns
    ]
    return LandedFile(landed.rows.with_columns(missing), landed.notes) if missing else landed
