"""Small builders for bronze-shaped frames."""

import datetime as dt

import polars as pl

from assets.telemetry.transform import parse_ts_utc
from warehouse.registry import BRONZE_TELEMETRY

LANDED = dt.date(2026, 11, 3)
INGESTED = dt.datetime(2026, 11, 3, 1, 0, tzinfo=dt.UTC)


def bronze(
    rows: list[dict], landing_date: dt.date = LANDED, reading_day: dt.date = dt.date(2026, 11, 2)
) -> pl.DataFrame:
    base = {
        "uscc": "91370102MA3C123469",
        "equipment_id": "EQ000001",
        "metric": "power",
        "ts": "2026-11-02T08:00:00+08:00",
        "value": "10.0",
        "unit": "kW",
        "raw_line": None,
    }
    recs = []
    for i, r in enumerate(rows, start=1):
        rec = base | r
        rec |= {
            "line_no": rec.get("line_no", i),
            "source_file": rec.get("source_file", "telemetry/gw/f.csv"),
            "landing_date": rec.get("landing_date", landing_date),
            "reading_day": rec.get("reading_day", reading_day),
            "ingest_run_id": "run-1",
            "content_hash": "h",
            "ingested_at": rec.get("ingested_at", INGESTED),
        }
        recs.append(rec)
    frame = pl.DataFrame(recs, schema=BRONZE_TELEMETRY.schema)
    return frame.with_columns(ts_utc=parse_ts_utc())  # as ingest stores it


def equipment(ids: dict[str, str] | None = None) -> pl.DataFrame:
    ids = ids or {"EQ000001": "91370102MA3C123469"}
    return pl.DataFrame(
        {"equipment_id": list(ids), "uscc": list(ids.values()), "equipment_type": ["pump"] * len(ids)}
    )
