"""Small builders for test data: bronze-shaped frames, file-ledger rows, typed parts of registry tables."""

import datetime as dt

import polars as pl

from assets.telemetry.transform import parse_ts_utc
from warehouse.registry import BRONZE_TELEMETRY, LANDING_FILES, TableSpec
from warehouse.storage import Lake

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


def land(lake: Lake, name: str, days: list[dt.date], at: dt.datetime) -> None:
    """A file-ledger row: `name` ingested at `at` with readings on `days` (what pending work is read from)."""
    row = {
        "source_file": name,
        "content_hash": name,
        "size_bytes": 1,
        "modified_at": at,
        "landing_date": days[0],
        "status": "ingested",
        "reason": None,
        "records": 1,
        "reading_days": days,
        "ingest_run_id": "ingest",
        "ingested_at": at,
        "superseded_at": None,
    }
    lake.upsert(LANDING_FILES, pl.DataFrame([row], schema=LANDING_FILES.schema), run_id="ingest")


def series(
    metric: str, values: list, unit: str, start: dt.datetime = dt.datetime(2026, 11, 2, 0, 0)
) -> list[dict]:
    """bronze() rows of one metric, one reading every 15 minutes from `start` (local time, +08:00)."""
    return [
        {
            "metric": metric,
            "unit": unit,
            "value": str(v),
            "ts": (start + dt.timedelta(minutes=15 * i)).isoformat() + "+08:00",
        }
        for i, v in enumerate(values)
    ]


def typed(spec: TableSpec, columns: tuple[str, ...], rows: list[tuple]) -> pl.DataFrame:
    """One tuple a row of `columns` of `spec`, typed as the registry types them (the part a test needs)."""
    return pl.DataFrame(rows, schema={c: spec.schema[c] for c in columns}, orient="row")
