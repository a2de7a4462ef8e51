"""Registry sources: the market-regulation register (CSV) and the industry roster (xlsx), read and validated.

Plain functions, no Dagster. A file that cannot be read becomes one quarantine row (line 0) with a reason
code from quality.rules.FILE_RULES, so nothing is lost silently; rows are checked by the declared row rules
(quality.rules.REGISTER_ROW_RULES / ROSTER_ROW_RULES) and the failing ones quarantined with the rule id.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from quality.rules import REGISTER_ROW_RULES, first_failed_rule
from warehouse.codes import resident_id_problem, shandong_city, uscc_problem
from warehouse.contracts import REGISTER_COLUMNS, ROSTER_COLUMNS
from warehouse.domain import TIMEZONE
from warehouse.privacy import mask_values
from warehouse.registry import ENTERPRISE, QUARANTINE_ENTERPRISE

ROSTER_REQUIRED = ("企业名称", "统一社会信用代码", "行政区划代码", "重点用能单位")
SCORES = tuple(v for v in ROSTER_COLUMNS.values() if v.startswith("score_"))
STATUS = {"存续": "active", "在业": "active", "开业": "active", "注销": "deregistered", "吊销": "revoked"}
PII = {"legal_representative": "name", "phone": "phone", "legal_representative_id": "id_number"}
# Columns a register export may lack (older exports have no ID number column); read as null.
REGISTER_OPTIONAL = frozenset({"法定代表人证件号码"})
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_SNAPSHOT_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
HEADER_SCAN_ROWS = 20


class SourceError(ValueError):
    """A source file cannot be read; `reason` is the rule id, the message names the file and the expectation."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_date(text: object) -> dt.date | None:
    """Mixed register/roster dates: 2020/1/5, 2020-01-05, 20200105, an Excel serial (days since 1899-12-30),
    or a datetime cell. None when it does not parse (2020-13-45) or lies in the future."""
    if text is None:
        return None
    if isinstance(text, dt.datetime):
        return text.date()
    if isinstance(text, dt.date):
        return text
    if isinstance(text, int | float):
        text = str(int(text)) if float(text).is_integer() else str(text)
    s = str(text).strip()
    out = None
    try:
        if re.fullmatch(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}", s):
            y, m, d = (int(x) for x in re.split(r"[-/.]", s))
            out = dt.date(y, m, d)
        elif re.fullmatch(r"\d{8}", s):
            out = dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?", s):
            out = dt.datetime.fromisoformat(s).date()
        elif re.fullmatch(r"\d{1,5}(\.0+)?", s) and 1 <= float(s) <= 80_000:
            out = _EXCEL_EPOCH + dt.timedelta(days=int(float(s)))
    except ValueError:
        return None
    if out is not None and out > dt.date.today() + dt.timedelta(days=366):
        return None
    return out


def normalize_name(col: str = "name") -> pl.Expr:
    """Full-width -> half-width (NFKC) and every space (ASCII or ideographic) removed."""
    return pl.col(col).str.normalize("NFKC").str.replace_all(r"\s+", "")


def snapshot_date(path: Path) -> dt.date:
    """The export date: YYYYMMDD / YYYY-MM-DD in the file name, else the file's local modification date."""
    m = _SNAPSHOT_IN_NAME.search(path.stem)
    if m:
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    return dt.datetime.fromtimestamp(path.stat().st_mtime, ZoneInfo(TIMEZONE)).date()


def decode(path: Path) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise SourceError("file_empty", f"{path.name}: empty file, expected a header line and records")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SourceError("file_undecodable", f"{path.name}: neither UTF-8 nor GB18030")


def read_register(path: Path) -> pl.DataFrame:
    """A register export as text columns plus line_no and malformed; SourceError when unreadable."""
    text = decode(path)
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise SourceError("file_empty", f"{path.name}: no lines")
    header = [h.strip().lstrip("\ufeff") for h in rows[0]]
    english = set(REGISTER_COLUMNS.values())
    missing = [
        zh
        for zh, en in REGISTER_COLUMNS.items()
        if zh not in header and en not in header and zh not in REGISTER_OPTIONAL
    ]
    if missing:
        raise SourceError(
            "header_missing", f"{path.name} line 1: expected columns {missing} (header {header[:12]})"
        )
    if len(rows) == 1:
        raise SourceError("file_empty", f"{path.name}: a header but no records")
    index = {
        REGISTER_COLUMNS.get(h, h): i for i, h in enumerate(header) if h in REGISTER_COLUMNS or h in english
    }
    records = []
    for line_no, r in enumerate(rows[1:], start=2):
        rec = {col: (r[i].strip() if i < len(r) else None) for col, i in index.items()}
        records.append(
            {
                **rec,
                "line_no": line_no,
                "malformed": len(r) != len(header),
                "raw": json.dumps(dict(zip(header, r, strict=False)), ensure_ascii=False),
            }
        )
    schema = {c: pl.String for c in REGISTER_COLUMNS.values()} | {
        "line_no": pl.Int64,
        "malformed": pl.Boolean,
        "raw": pl.String,
    }
    return pl.DataFrame(records, schema=schema)


def read_roster(path: Path) -> pl.DataFrame:
    """The roster workbook: the header is searched on every sheet in the first 20 rows (renamed sheets and
    moved header rows are fine). Dates stay as cells (datetime, Excel serial number or text)."""
    import openpyxl

    if path.stat().st_size == 0:
        raise SourceError("file_empty", f"{path.name}: empty file")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise SourceError("file_unreadable", f"{path.name}: not an .xlsx workbook ({exc})") from exc
    try:
        for ws in wb.worksheets:
            rows = ws.iter_rows(values_only=True)
            for header_row, values in enumerate(rows, start=1):
                if header_row > HEADER_SCAN_ROWS:
                    break
                header = [str(v).strip() if v is not None else "" for v in values]
                if all(h in header for h in ROSTER_REQUIRED):
                    return _roster_frame(header, rows, header_row, ws.title)
        sheets = [ws.title for ws in wb.worksheets]
    finally:
        wb.close()
    raise SourceError(
        "header_missing",
        f"{path.name}: no sheet of {sheets} has the header {list(ROSTER_REQUIRED)} "
        f"in its first {HEADER_SCAN_ROWS} rows",
    )


def _cell_text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()[:10]
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip() or None


def _roster_frame(header: list[str], rows, header_row: int, sheet: str) -> pl.DataFrame:
    index = {ROSTER_COLUMNS[h]: i for i, h in enumerate(header) if h in ROSTER_COLUMNS}
    records = []
    for row_no, values in enumerate(rows, start=header_row + 1):
        if values is None or all(v is None or str(v).strip() == "" for v in values):
            continue
        rec = {col: _cell_text(values[i]) if i < len(values) else None for col, i in index.items()}
        rec["assessed_on"] = (
            parse_date(values[index["assessed_on_text"]]) if "assessed_on_text" in index else None
        )
        rec["raw"] = json.dumps(
            {h: _cell_text(v) for h, v in zip(header, values, strict=False) if h}, ensure_ascii=False
        )
        records.append({**rec, "line_no": row_no, "sheet": sheet})
    schema = {c: pl.String for c in ROSTER_COLUMNS.values()} | {
        "assessed_on": pl.Date,
        "raw": pl.String,
        "line_no": pl.Int64,
        "sheet": pl.String,
    }
    return pl.DataFrame(records, schema=schema)


@dataclass
class Validated:
    """Rows of one source file: clean (typed), quarantined (rule id as reason), duplicates dropped."""

    source_file: str
    landed: int
    clean: pl.DataFrame
    quarantined: pl.DataFrame
    duplicates: int = 0
    snapshot: dt.date | None = None
    reasons: dict[str, int] = field(default_factory=dict)


def quarantine_rows(source_file: str, df: pl.DataFrame) -> pl.DataFrame:
    """quarantine.enterprise rows: payload JSON with the personal fields masked."""
    payloads = [
        json.dumps(
            mask_values(
                json.loads(raw),
                {"法定代表人": "name", "联系电话": "phone", "法定代表人证件号码": "id_number", **PII},
            ),
            ensure_ascii=False,
        )
        for raw in df["raw"].to_list()
    ]
    return pl.DataFrame(
        {
            "source_file": [source_file] * df.height,
            "line_no": df["line_no"],
            "reason": df["reason"],
            "uscc": df["uscc"],
            "payload": payloads,
        },
        schema=QUARANTINE_ENTERPRISE.schema,
    )


def file_quarantine(source_file: str, error: SourceError) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "source_file": source_file,
                "line_no": 0,
                "reason": error.reason,
                "uscc": None,
                "payload": json.dumps({"error": str(error)}, ensure_ascii=False),
            }
        ],
        schema=QUARANTINE_ENTERPRISE.schema,
    )


def prepare_register(raw: pl.DataFrame) -> pl.DataFrame:
    """Typed register columns the row rules read: uscc_problem, city_code, industry_code, established_date,
    id_problem (the ID number itself stays only in the row, never in a derived column)."""
    return raw.with_columns(
        uscc=pl.col("uscc").str.strip_chars().str.to_uppercase(),
        name=normalize_name("name"),
        region_code=pl.col("region_code").str.strip_chars(),
        industry_code=pl.col("industry_code").str.strip_chars().str.slice(0, 2),
        status=pl.col("status").str.strip_chars().replace(STATUS),
        registered_capital=pl.col("registered_capital")
        .str.replace_all(",", "")
        .cast(pl.Float64, strict=False),
        established_date=pl.col("established").map_elements(
            parse_date, return_dtype=pl.Date, skip_nulls=True
        ),
    ).with_columns(
        uscc_problem=pl.col("uscc").map_elements(uscc_problem, return_dtype=pl.String, skip_nulls=False),
        city_code=pl.col("region_code").map_elements(shandong_city, return_dtype=pl.String, skip_nulls=True),
        division_code=pl.col("region_code"),
        id_problem=pl.col("legal_representative_id")
        .str.strip_chars()
        .replace("", None)
        .map_elements(resident_id_problem, return_dtype=pl.String, skip_nulls=True),
    )


def validate_register(path: Path, *, relative_to: Path) -> Validated:
    """One register export: file problems and invalid rows quarantined; of several valid rows of one USCC the
    last line of the export wins (a later correction), the others count as duplicates."""
    source = str(path.relative_to(relative_to))
    try:
        raw = read_register(path)
    except SourceError as err:
        return Validated(
            source,
            1,
            pl.DataFrame(),
            file_quarantine(source, err),
            reasons={err.reason: 1},
            snapshot=snapshot_date(path),
        )
    rows = prepare_register(raw).with_columns(reason=first_failed_rule(REGISTER_ROW_RULES))
    bad = rows.filter(pl.col("reason").is_not_null())
    good = rows.filter(pl.col("reason").is_null())
    clean = good.sort("line_no").unique(subset=["uscc"], keep="last", maintain_order=True)
    reasons = dict(bad.group_by("reason").len().iter_rows())
    return Validated(
        source,
        raw.height,
        clean,
        quarantine_rows(source, bad),
        good.height - clean.height,
        snapshot_date(path),
        reasons,
    )


def registry_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Register exports (*.csv) and roster workbooks (*.xlsx) under landing/registry."""
    if not folder.is_dir():
        return [], []
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return [p for p in files if p.suffix.lower() == ".csv"], [
        p for p in files if p.suffix.lower() in (".xlsx", ".xlsm")
    ]


ENTERPRISE_NAME = ENTERPRISE.name
