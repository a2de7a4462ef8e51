"""Daily sums against monthly reports: the online energy-monitoring systems' cross-check.

Provincial energy online-monitoring systems compare the sum of an enterprise's monitored daily energy
with the enterprise's own monthly statistics (or month-to-date flash report) and accept a difference
of at most 5% of the reported figure. A report can only be judged once every day it covers is built in
theme.energy_daily; until then it is "not evaluated", which is not a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import polars as pl

from warehouse.domain import REPORT_AGREEMENT_TOLERANCE
from warehouse.registry import ENERGY_REPORT_AGREEMENT

TOLERANCE = REPORT_AGREEMENT_TOLERANCE
AGREES, DISAGREES, NOT_EVALUATED = "agrees", "disagrees", "not_evaluated"
_PRECISION = 6  # deviations are judged to 1 ppm, so float noise cannot tip an exact 5% over the limit


def report_agreement(
    reports: pl.DataFrame,
    energy: pl.DataFrame,
    built_days: Iterable[dt.date],
    *,
    tolerance: float = TOLERANCE,
    checked_at: dt.datetime | None = None,
) -> pl.DataFrame:
    """catalog.energy_report_agreement: one row per report (silver.energy_report).

    `energy` holds theme.energy_daily rows (at least day, uscc, energy_tce); `built_days` the days
    theme.energy_daily has partitions for. A report whose days are all built is compared: it disagrees
    when |daily_sum - reported| / reported > tolerance (a zero report disagrees with any consumption).
    An enterprise with no monitored energy on built days sums to 0.
    """
    built = pl.DataFrame({"day": sorted(set(built_days))}, schema={"day": pl.Date})
    days = (
        reports.select("uscc", "month", "from_day", "through_day")
        .with_columns(day=pl.date_ranges("from_day", "through_day"))
        .explode("day")
    )
    coverage = (
        days.join(built.with_columns(built=pl.lit(True)), on="day", how="left")
        .group_by("uscc", "month", "from_day", "through_day")
        .agg(
            days_in_report=pl.len(),
            days_built=pl.col("built").fill_null(False).sum(),
            missing=pl.col("day").filter(pl.col("built").is_null()).sort(),
        )
    )
    per_day = energy.group_by("uscc", "day").agg(tce=pl.col("energy_tce").fill_null(0.0).sum())
    sums = (
        days.join(per_day, on=["uscc", "day"], how="left")
        .group_by("uscc", "month", "from_day", "through_day")
        .agg(daily_sum_tce=pl.col("tce").fill_null(0.0).sum())
    )
    key = ["uscc", "month", "from_day", "through_day"]
    complete = pl.col("days_built") == pl.col("days_in_report")
    reported, daily = pl.col("reported_tce"), pl.col("daily_sum_tce")
    deviation = (
        pl.when(~complete)
        .then(None)
        .when(reported > 0)
        .then((daily - reported) / reported)
        .when(daily == 0)
        .then(0.0)
    )
    off = pl.col("deviation").abs().round(_PRECISION) > tolerance
    out = (
        reports.select(*key, reported_tce=pl.col("energy_tce"))
        .join(coverage, on=key, how="left")
        .join(sums, on=key, how="left")
        .with_columns(daily_sum_tce=pl.when(complete).then(daily), deviation=deviation)
        .with_columns(
            status=pl.when(~complete)
            .then(pl.lit(NOT_EVALUATED))
            .when(pl.col("deviation").is_null() | off)
            .then(pl.lit(DISAGREES))
            .otherwise(pl.lit(AGREES)),
        )
        .with_columns(
            note=pl.when(~complete)
            .then(
                pl.format(
                    "{} of {} days not built in theme.energy_daily yet: {}",
                    pl.col("days_in_report") - pl.col("days_built"),
                    pl.col("days_in_report"),
                    pl.col("missing").cast(pl.List(pl.String)).list.join(", "),
                )
            )
            .when(pl.col("deviation").is_null())
            .then(pl.format("reported 0 tce but the days sum to {} tce", daily.round(3)))
            .when(off)
            .then(
                pl.format(
                    "daily sum {} tce vs reported {} tce: {}% (limit ±{}%)",
                    daily.round(3),
                    reported.round(3),
                    (100 * pl.col("deviation")).round(2),
                    pl.lit(round(100 * tolerance, 2)),
                )
            ),
            checked_at=pl.lit(checked_at or dt.datetime.now(dt.UTC)),
        )
    )
    return (
        out.select(list(ENERGY_REPORT_AGREEMENT.schema))
        .cast(dict(ENERGY_REPORT_AGREEMENT.schema))  # type: ignore[arg-type]
        .sort("month", "uscc", "through_day")
    )
