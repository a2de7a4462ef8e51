"""catalog.feed_status: per enterprise and source, is the feed on time (national energy monitoring).

The last reading and its file, the lateness against the cadence, and the day's completeness so far with
the same denominator as the day_complete rule (assets/theme/energy.py: readings_expected).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl

from assets.theme.energy import readings_expected
from warehouse.domain import READINGS_PER_DAY, SAMPLING_INTERVAL_MINUTES, TIMEZONE
from warehouse.registry import EQUIPMENT, FEED_STATUS, SILVER_TELEMETRY
from warehouse.settings import Settings
from warehouse.storage import Lake


def local_midnight(now: dt.datetime) -> dt.datetime:
    """Start of `now`'s local day (Asia/Shanghai), in UTC."""
    local = now.astimezone(ZoneInfo(TIMEZONE))
    return dt.datetime.combine(local.date(), dt.time(), ZoneInfo(TIMEZONE)).astimezone(dt.UTC)


def feed_status(
    readings: pl.DataFrame,
    equipment: pl.DataFrame,
    *,
    now: dt.datetime,
    cadence: dt.timedelta,
    silent_after: dt.timedelta,
    source: str = "telemetry",
) -> pl.DataFrame:
    """One row per enterprise with key equipment (master data): on_time, late or silent at `now`.

    `readings` holds (uscc, ts_utc, source_file) of the look-back (at least `silent_after`); readings
    stamped after `now` are ignored. Late: no reading for longer than the cadence; silent: none for longer
    than `silent_after` (or none at all).
    """
    midnight = local_midnight(now)
    slots = min(int((now - midnight) / dt.timedelta(minutes=SAMPLING_INTERVAL_MINUTES)), READINGS_PER_DAY)
    expected = (
        readings_expected(equipment, slots=slots).group_by("uscc").agg(pl.col("readings_expected").sum())
    )
    seen = readings.filter(pl.col("ts_utc") <= now)
    last = (
        seen.sort("ts_utc")
        .group_by("uscc")
        .agg(last_reading_at=pl.col("ts_utc").last(), last_file=pl.col("source_file").last())
    )
    today = seen.filter(pl.col("ts_utc") >= midnight).group_by("uscc").agg(readings_received=pl.len())
    age = pl.lit(now) - pl.col("last_reading_at")
    out = (
        expected.join(last, on="uscc", how="left")
        .join(today, on="uscc", how="left")
        .with_columns(
            source=pl.lit(source),
            cadence_minutes=pl.lit(cadence.total_seconds() / 60),
            lateness_minutes=pl.max_horizontal(pl.lit(0.0), (age - pl.lit(cadence)).dt.total_seconds() / 60),
            status=pl.when(pl.col("last_reading_at").is_null() | (age > pl.lit(silent_after)))
            .then(pl.lit("silent"))
            .when(age > pl.lit(cadence))
            .then(pl.lit("late"))
            .otherwise(pl.lit("on_time")),
            readings_received=pl.col("readings_received").fill_null(0),
            day=pl.lit(midnight.astimezone(ZoneInfo(TIMEZONE)).date()),
            checked_at=pl.lit(now),
        )
        .with_columns(
            completeness_pct=pl.when(pl.col("readings_expected") > 0)
            .then(
                pl.min_horizontal(
                    pl.lit(100.0), 100.0 * pl.col("readings_received") / pl.col("readings_expected")
                )
            )
            .otherwise(pl.lit(None, pl.Float64))
        )
    )
    return FEED_STATUS.conform(out).sort("uscc")


def late_feeds(status: pl.DataFrame) -> pl.DataFrame:
    """The late and silent feeds, latest last reading first."""
    return status.filter(pl.col("status") != "on_time").sort(
        "status", "lateness_minutes", descending=[True, True]
    )


def lake_feed_status(lake: Lake, settings: Settings, *, now: dt.datetime) -> pl.DataFrame:
    """feed_status over silver.telemetry's local days from `now - silent_after` to `now` (both the asset and
    `lakehouse feeds` call this)."""
    tz = ZoneInfo(TIMEZONE)
    first = (now - settings.feed_silent_after).astimezone(tz).date()
    last = now.astimezone(tz).date()
    readings = lake.read(
        SILVER_TELEMETRY,
        where=pl.col("day").is_between(first, last),
        columns=["uscc", "ts_utc", "source_file"],
    )
    return feed_status(
        readings,
        lake.read(EQUIPMENT),
        now=now,
        cadence=settings.feed_cadence,
        silent_after=settings.feed_silent_after,
    )
