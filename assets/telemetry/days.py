"""Which reading days to build, and what their build records say: a day is pending while records
landed after its last complete build (or it was built before it closed); `catalog.day_build` is the
record of complete builds. Kept apart from the ingest, which only lands files."""

from __future__ import annotations

import datetime as dt

import polars as pl

from warehouse.domain import day_closes_at, provisional
from warehouse.registry import DAY_BUILD, LANDING_FILES
from warehouse.storage import Lake


def closed_provisional_days(built: pl.DataFrame, now: dt.datetime) -> set[dt.date]:
    """Days of `catalog.day_build` (day, run_started_at) built before they closed that have closed by `now`:
    their figures are the day's so far, so they are built again, in full."""
    return {
        day
        for day, started in built.select("day", "run_started_at").iter_rows()
        if provisional(day, started) and now >= day_closes_at(day)
    }


def migrate_day_build(lake: Lake, run_id: str) -> bool:
    """Build records from before `provisional` was recorded get it, from their run's start (one commit,
    once): the role files select every declared column, and a column the table lacks fails the refresh."""
    if not lake.exists(DAY_BUILD) or "provisional" in lake.table(DAY_BUILD).schema().to_arrow().names:
        return False
    old = lake.read(DAY_BUILD)
    flags = [provisional(day, started) for day, started in old.select("day", "run_started_at").iter_rows()]
    lake.overwrite(DAY_BUILD, old.with_columns(provisional=pl.Series(flags, dtype=pl.Boolean)), run_id=run_id)
    return True


def provisional_build(lake: Lake, day: dt.date) -> dt.datetime | None:
    """When the run that last built `day` started, if that was before the day closed; else None
    (a final build, or no build record)."""
    built = lake.read(DAY_BUILD, columns=["day", "run_started_at"]).filter(pl.col("day") == day)
    started = built["run_started_at"].max() if built.height else None
    return started if started is not None and provisional(day, started) else None


def recorded_run(lake: Lake, day: dt.date) -> str | None:
    """The run `catalog.day_build` holds as the last to have built `day` completely, or None."""
    built = lake.read(DAY_BUILD, columns=["day", "run_id", "run_started_at"]).filter(pl.col("day") == day)
    return built.sort("run_started_at")["run_id"][-1] if built.height else None


def pending_days(
    lake: Lake, last_day: dt.date | None = None, now: dt.datetime | None = None
) -> list[dt.date]:
    """Reading days with records ingested after the day was last completely built (or never built), and
    days last built before they closed (provisional) that have closed since (`now`, default the clock).

    A day is built when `catalog.day_build` holds it: daily_job's last asset writes that row after every
    table of the day committed, so a run that failed or was killed part-way leaves the day pending.
    A rebuilt day also dirties the next day: its energy counts from the previous day's last meter reading.
    """
    files = lake.read(LANDING_FILES).filter(pl.col("status").is_in(["ingested", "superseded"]))
    if files.is_empty():
        return []
    landed = (
        files.with_columns(ingested_at=pl.max_horizontal("ingested_at", "superseded_at"))
        .explode("reading_days")
        .group_by(pl.col("reading_days").alias("day"))
        .agg(pl.col("ingested_at").max().alias("last_ingest"))
    )
    built = lake.read(DAY_BUILD, columns=["day", "run_started_at"])
    status = landed.join(built, on="day", how="left")
    dirty = set(
        status.filter(
            pl.col("run_started_at").is_null() | (pl.col("last_ingest") > pl.col("run_started_at"))
        )["day"]
    )
    dirty |= closed_provisional_days(built, now or dt.datetime.now(dt.UTC))
    built_days = set(built["day"].to_list())
    dirty |= {d + dt.timedelta(days=1) for d in dirty if d + dt.timedelta(days=1) in built_days}
    if last_day is not None:  # readings stamped in the future wait in bronze until their day exists
        dirty = {d for d in dirty if d <= last_day}
    return sorted(dirty)


def trailing_clean_counts(reconciliation: pl.DataFrame, table: str, day: dt.date, days: int = 7) -> list[int]:
    """Clean row counts of the table's partitions in the `days` before `day`, oldest first."""
    start = day - dt.timedelta(days=days)
    return (
        reconciliation.filter(pl.col("table_name") == table)
        .with_columns(d=pl.col("partition").str.to_date())
        .filter((pl.col("d") >= start) & (pl.col("d") < day))
        .sort("d")["clean"]
        .to_list()
    )
