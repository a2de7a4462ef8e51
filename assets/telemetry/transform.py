"""Bronze -> silver telemetry: typing, time zones, units, row rules, deduplication, quality flags.

Plain functions over polars frames; no Dagster here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from quality.rules import TELEMETRY_ROW_RULES, first_failed_rule, passes_all
from warehouse.domain import FIXED_OFFSET, FIXED_OFFSET_SINCE, METRICS, TIMEZONE, UNIT_CONVERSIONS
from warehouse.registry import QUARANTINE_TELEMETRY, SILVER_TELEMETRY
from warehouse.settings import FUTURE_TOLERANCE, LATE_WATERMARK_DAYS

STUCK_RUN = 4  # a non-zero instant value repeated this many times in a row is a stuck sensor
ROLLOVER_SHARE = 0.9  # a drop from above 90% of the register size is a rollover, else a reset

_UNITS = pl.DataFrame(
    {
        "unit_landed": list(UNIT_CONVERSIONS),
        "unit_canonical": [v[0] for v in UNIT_CONVERSIONS.values()],
        "unit_factor": [v[1] for v in UNIT_CONVERSIONS.values()],
        "unit_offset": [v[2] for v in UNIT_CONVERSIONS.values()],
    }
)
_METRICS = pl.DataFrame(
    {
        "metric": list(METRICS),
        "metric_unit": [m.unit for m in METRICS.values()],
        "metric_kind": [m.kind for m in METRICS.values()],
        "metric_low": [float(m.low) for m in METRICS.values()],
        "metric_high": [float(m.high) for m in METRICS.values()],
        "register_size": [m.register_size for m in METRICS.values()],
        "metric_rank": [sorted(METRICS).index(m) for m in METRICS],  # its place in text order
    },
    schema_overrides={"register_size": pl.Float64, "metric_rank": pl.Int64},
)


def parse_ts_utc(col: str = "ts") -> pl.Expr:
    """ISO 8601 with offset (or Z) as given; without offset as local Asia/Shanghai time. UTC out."""
    t = pl.col(col).str.strip_chars().str.replace(" ", "T").str.replace(r"Z$", "+00:00")
    has_offset = t.str.contains(r"[+-]\d{2}:?\d{2}$")
    with_offset = t.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", strict=False, time_unit="us", time_zone="UTC")
    local = (
        t.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
        .dt.replace_time_zone(TIMEZONE, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )
    return pl.when(has_offset).then(with_offset).otherwise(local)


_WITH_OFFSET = "%Y-%m-%dT%H:%M:%S%.f%#z"  # chrono's %#z reads Z, +08:00 and +0800 (and +08: see below)
_LOCAL_SHAPE = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"  # local time as gateways write it, no offset


def ts_utc_of(ts: pl.Series) -> pl.Series:
    """`parse_ts_utc` over a column, faster: one strict-shape parse for the common ISO 8601 forms with an
    offset or Z, and the full normalization only for the rest (local times, spaces, odd forms).

    A fast result is kept only where the text holds no whitespace (chrono skips it anywhere) and ends in
    Z or in a +hh:mm / +hhmm offset: exactly the texts on which `parse_ts_utc` gives the same instant (it
    accepts no other form that %#z reads, e.g. +08). Local times of exactly the form
    `YYYY-MM-DD hh:mm:ss` since FIXED_OFFSET_SINCE are the fixed offset before UTC, as the zone rules
    `parse_ts_utc` applies give for them.
    """
    fast = ts.str.to_datetime(_WITH_OFFSET, strict=False, time_unit="us", time_zone="UTC")
    # no whitespace, and Z or a sign 5 or 6 characters from the end (one regex pass, not four)
    shaped = ts.str.contains(r"\A\S*(?:Z|[+-]\S{4,5})\z")
    rest = (fast.is_null() | ~shaped) & ts.is_not_null()
    if not rest.any():
        return fast.alias("ts_utc")
    # the rest only (often a minority: one format's files) is looked at again
    at = rest.arg_true()
    ts_rest, fast_rest = ts.gather(at), fast.gather(at)
    local = ts_rest.str.contains(_LOCAL_SHAPE)
    redo = ~local
    if local.any():
        naive = ts_rest.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")
        as_utc = (naive - FIXED_OFFSET).dt.replace_time_zone("UTC")
        local &= as_utc >= FIXED_OFFSET_SINCE  # null (no such time) stays with the zone rules
        fast_rest = as_utc.zip_with(local, fast_rest)
        redo = ~local
    if redo.any():
        slow = ts_rest.filter(redo).to_frame("ts").select(parse_ts_utc())["ts"]
        fast_rest = fast_rest.scatter(redo.arg_true(), slow)
    return fast.scatter(at, fast_rest).alias("ts_utc")


def local_day(expr: pl.Expr) -> pl.Expr:
    return expr.dt.convert_time_zone(TIMEZONE).dt.date()


def local_day_of(ts_utc: pl.Series) -> pl.Series:
    """`local_day` over a column, ~8x faster: the fixed offset where it holds, the zone rules before."""
    day = (ts_utc.dt.replace_time_zone(None) + FIXED_OFFSET).dt.date()
    early = ts_utc < FIXED_OFFSET_SINCE
    if early.any():
        day = day.scatter(
            early.arg_true(), ts_utc.filter(early).to_frame("t").select(local_day(pl.col("t")))["t"]
        )
    return day


def route_reading_days(
    frame: pl.DataFrame, watermark_days: int, future_tolerance: dt.timedelta | None = None
) -> pl.DataFrame:
    """Add `reading_day`: the local day partition each landed record is built in.

    A reading goes to its own local day. A record that cannot be placed there (no parseable timestamp,
    older than the watermark, whose day is closed, or stamped more than `future_tolerance` after its
    `ingested_at`) goes to the day of the batch it came in: the
    most common reading day of its file's placeable records (earliest on a tie), else the file's
    landing date. Old days are never reopened by records they will not accept. One vectorized pass
    over any number of files (columns ts, landing_date, source_file). Adds `ts_utc`, the parsed timestamp.
    """
    ts_utc = ts_utc_of(frame["ts"])  # parsed once here, kept in bronze for silver
    frame = frame.with_columns(ts_utc, _day=local_day_of(ts_utc))
    day = pl.col("_day")
    placeable = day.is_not_null() & ((pl.col("landing_date") - day).dt.total_days() <= watermark_days)
    if future_tolerance is not None:
        placeable &= pl.col("ts_utc") <= pl.col("ingested_at") + future_tolerance
    routed = frame.with_columns(_own_day=pl.when(placeable).then(day)).drop("_day")
    if routed["_own_day"].null_count() == 0:  # every record placed in its own day: no batch day needed
        return routed.rename({"_own_day": "reading_day"})
    batch = (
        routed.filter(pl.col("_own_day").is_not_null())
        .group_by("source_file", "_own_day")
        .len()
        .sort(["source_file", "len", "_own_day"], descending=[False, True, False])
        .unique(subset="source_file", keep="first")
        .select("source_file", pl.col("_own_day").alias("_batch_day"))
    )
    return (
        routed.join(batch, on="source_file", how="left", maintain_order="left")
        .with_columns(reading_day=pl.coalesce("_own_day", "_batch_day", "landing_date"))
        .drop("_own_day", "_batch_day")
    )


@dataclass
class CleanResult:
    clean: pl.DataFrame
    quarantined: pl.DataFrame
    landed: int
    duplicates: int

    @property
    def reasons(self) -> dict[str, int]:
        counts = self.quarantined.group_by("reason").len().sort("reason")
        return dict(counts.iter_rows())

    @property
    def flags(self) -> dict[str, int]:
        counts = self.clean.group_by("quality_flag").len()
        return {f: 0 for f in ("good", "uncertain", "bad")} | dict(counts.iter_rows())

    @property
    def reconciles(self) -> bool:
        return self.landed == self.clean.height + self.quarantined.height + self.duplicates


def prepare(
    raw: pl.DataFrame,
    equipment: pl.DataFrame,
    watermark_days: int,
    future_tolerance: dt.timedelta | None = None,
) -> pl.DataFrame:
    """Add the typed columns the row rules read: ts_utc, value_num, unit conversion, master data; and
    `_pair`, the place of a known (equipment, metric) in text order, which `sorted_by_series_key` sorts by."""
    value_num = _value_number(raw["value"])
    master = (
        equipment.select("equipment_id", pl.col("uscc").alias("master_uscc"))
        .sort("equipment_id")
        .with_row_index("equipment_rank")
    )
    # bronze keeps the timestamp parsed at ingest; frames without it (older bronze, tests) parse here
    if "ts_utc" not in raw.columns:
        raw = raw.with_columns(ts_utc_of(raw["ts"]))
    keys = raw.select(
        unit_landed=pl.col("unit").fill_null("").str.strip_chars(),
        metric=pl.col("metric").str.strip_chars(),
        equipment_id=pl.col("equipment_id").str.strip_chars(),
    )
    # the lookups joined on the three key columns alone, then set beside the rows: a join of the whole
    # frame gathers every column of it three times (a third of this function's time)
    looked_up = (
        keys.join(master, on="equipment_id", how="left", maintain_order="left")
        .join(_METRICS, on="metric", how="left", maintain_order="left")
        .join(_UNITS, on="unit_landed", how="left", maintain_order="left")
    )
    return (
        raw.drop("metric", "equipment_id")
        .with_columns(_local_day=local_day_of(raw["ts_utc"]))
        .with_columns(
            value_num,
            value_present=_value_present(raw["value"], value_num),
            lag_days=(pl.col("landing_date") - pl.col("_local_day")).dt.total_days(),
            watermark_days=pl.lit(watermark_days, dtype=pl.Int64),
            future_limit=pl.col("ingested_at") + (future_tolerance or FUTURE_TOLERANCE),
        )
        .drop("_local_day")
        .hstack(looked_up.get_columns())
        .with_columns(_pair=pl.col("equipment_rank").cast(pl.Int64) * len(METRICS) + pl.col("metric_rank"))
        .drop("equipment_rank", "metric_rank")
    )


def _value_number(value: pl.Series) -> pl.Series:
    """The value text as a number (null where it is none), blanks around it ignored: cast as it is, and
    only the texts that did not parse are stripped and cast again (stripping every text cost as much as
    the cast)."""
    number = value.cast(pl.Float64, strict=False)
    again = number.is_null() & value.is_not_null()
    if again.any():
        at = again.arg_true()
        number = number.scatter(at, value.gather(at).str.strip_chars().cast(pl.Float64, strict=False))
    return number.alias("value_num")


def _value_present(value: pl.Series, value_num: pl.Series) -> pl.Series:
    """A value was sent: text that is not blank nor a null word (nan, null, none), and not NaN.

    A number that parsed (and is not NaN) was sent, so the text is looked at only where none parsed
    (the cast gives NaN for "nan" in any case, null for blanks, "null" and "none")."""
    if not value_num.null_count():
        return (~value_num.is_nan()).alias("value_present")
    text = value.str.strip_chars()
    return (
        text.is_not_null()
        & (text != "")
        & ~text.str.to_lowercase().is_in(["nan", "null", "none"])
        & ~value_num.is_nan().fill_null(False)
    ).alias("value_present")


SERIES = ["equipment_id", "metric"]  # one time series of readings
SERIES_KEY = [*SERIES, "ts_utc"]  # one reading; a second record with the same key is a duplicate


def flag_quality(readings: pl.DataFrame) -> pl.DataFrame:
    """good / uncertain / bad per reading, looking along each (equipment, metric) series in time.

    bad: outside the metric's physical range, or a non-zero instant value stuck for STUCK_RUN readings;
    uncertain: a cumulative meter that went down (reset on replacement, or rollover at register size).
    A source's own verdict (landing column `quality`, e.g. an OPC UA status) counts when nothing else does.
    The readings must be sorted by SERIES_KEY (one record per key): the previous readings of a series are
    then the rows just above, so no per-series sort or hash is needed.
    """
    starts = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(1)) for c in SERIES])
    series_no = starts.fill_null(True).cum_sum()
    prev = [
        pl.when(pl.col("_series") == pl.col("_series").shift(i)).then(pl.col("value").shift(i))
        for i in range(1, STUCK_RUN)
    ]
    stuck = (
        (pl.col("metric_kind") == "instant")
        & (pl.col("value") != 0)
        & pl.all_horizontal([(p == pl.col("value")).fill_null(False) for p in prev])
    )
    out_of_range = (pl.col("value") < pl.col("metric_low")) | (pl.col("value") > pl.col("metric_high"))
    meter_drop = (pl.col("metric_kind") == "cumulative") & (pl.col("value") < prev[0]).fill_null(False)
    source = pl.col("quality") if "quality" in readings.columns else pl.lit(None, dtype=pl.String)
    reason = (
        pl.when(out_of_range)
        .then(pl.lit("out_of_range"))
        .when(stuck)
        .then(pl.lit("stuck"))
        .when(meter_drop)
        .then(pl.lit("meter_drop"))
        .when(source.is_in(["bad", "uncertain"]))
        .then(pl.lit("source_") + source)
    )
    return (
        readings.with_columns(_series=series_no)
        .with_columns(quality_reason=reason)
        .drop("_series")
        .with_columns(
            quality_flag=pl.when(pl.col("quality_reason").is_null())
            .then(pl.lit("good"))
            .when(pl.col("quality_reason").is_in(["meter_drop", "source_uncertain"]))
            .then(pl.lit("uncertain"))
            .otherwise(pl.lit("bad"))
        )
    )


def sorted_by_series_key(df: pl.DataFrame) -> pl.DataFrame:
    """`df.sort(SERIES_KEY)`, faster: each row's key is one integer, the rank of its (equipment, metric)
    in text order times the time span plus its timestamp's offset, and that one column is sorted instead
    of two text columns and a time. The rank is the frame's `_pair` column where `prepare` set it on every
    row (the master's and the metrics' places, found by the joins it makes anyway; the column is dropped),
    else that of the pair among the frame's distinct pairs.

    The same order (records with equal keys stay side by side) and sorted flag; the plain sort where a
    key column has a null (polars puts nulls first) or the key would not fit in 63 bits."""
    given = df["_pair"] if "_pair" in df.columns else None
    df = df.drop("_pair", strict=False)
    if df.height < 2 or any(df[c].null_count() for c in SERIES_KEY):
        return df.sort(SERIES_KEY)
    ts = df["ts_utc"].to_physical()  # the time as stored (an integer in its own unit)
    lo, hi = ts.min(), ts.max()
    span = int(hi) - int(lo) + 1  # type: ignore[arg-type]  # no nulls: min and max are ints
    if given is not None and not given.null_count():
        pair, pairs = given, int(given.max()) + 1  # type: ignore[arg-type]  # no nulls: an int
    else:
        distinct = df.select(SERIES).unique().sort(SERIES).with_row_index("_pair")
        pair = df.select(SERIES).join(distinct, on=SERIES, how="left", maintain_order="left")["_pair"]
        pairs = distinct.height
    if pairs * span >= 1 << 63:
        return df.sort(SERIES_KEY)
    key = pair.cast(pl.Int64) * span + (ts - lo)
    # flagged sorted by equipment as the plain sort flags it: later group-bys take the same (sorted) path
    return df.sort(key).with_columns(pl.col("equipment_id").set_sorted())


def latest_per_key(good: pl.DataFrame) -> pl.DataFrame:
    """Sorted by SERIES_KEY, one record per key: of records with the same key, the latest landed one
    (ingested_at, then source_file, then line_no, highest first). Duplicates sit side by side once sorted,
    and only those few rows are ordered by landing."""
    rows = sorted_by_series_key(good).with_row_index("_row")
    same_as_prev = pl.all_horizontal(
        [pl.col(c).eq_missing(pl.col(c).shift(1)) for c in SERIES_KEY]
    ).fill_null(False)
    repeated = same_as_prev | same_as_prev.shift(-1).fill_null(False)
    rows = rows.with_columns(_repeated=repeated)
    dupes = rows.filter(pl.col("_repeated"))
    if dupes.is_empty():
        return rows.drop("_row", "_repeated")
    winners = dupes.sort(
        ["ingested_at", "source_file", "line_no"], descending=True, nulls_last=True, maintain_order=True
    ).unique(subset=SERIES_KEY, keep="first")["_row"]
    keep = ~pl.col("_repeated") | pl.col("_row").is_in(winners.implode())
    return rows.filter(keep).drop("_row", "_repeated")


def clean_telemetry(
    raw: pl.DataFrame,
    equipment: pl.DataFrame,
    *,
    day: dt.date,
    run_id: str,
    watermark_days: int = LATE_WATERMARK_DAYS,
    future_tolerance: dt.timedelta | None = None,
) -> CleanResult:
    """Bronze rows of one reading day -> silver rows, quarantine rows (reason = rule id), duplicates.

    landed = clean + quarantined + duplicates holds by construction and is checked by the caller.
    """
    prepared = prepare(raw, equipment, watermark_days, future_tolerance).with_columns(
        _passes=passes_all(TELEMETRY_ROW_RULES)
    )
    bad = prepared.filter(~pl.col("_passes")).with_columns(reason=first_failed_rule(TELEMETRY_ROW_RULES))
    quarantined = bad.select(
        pl.lit(day).alias("day"),
        "reason",
        "source_file",
        "line_no",
        "ingest_run_id",
        pl.coalesce(
            pl.col("raw_line"),
            pl.struct("uscc", "equipment_id", "metric", "ts", "value", "unit").struct.json_encode(),
        ).alias("payload"),
        pl.lit(run_id).alias("quarantined_run_id"),
    )
    # only what silver keeps and the quality flags read goes on to be sorted (a sort moves every column)
    carried = [c for c in SILVER_TELEMETRY.schema if c not in ("day", "quality_flag", "quality_reason")]
    flag_inputs = ["ingested_at", "metric_kind", "metric_low", "metric_high"] + (
        ["quality"] if "quality" in prepared.columns else []
    )
    good = (
        prepared.filter(pl.col("_passes"))
        .with_columns(
            value=pl.col("value_num") * pl.col("unit_factor") + pl.col("unit_offset"),
            uscc=pl.col("master_uscc"),
            unit=pl.col("metric_unit"),
        )
        .select(*carried, *flag_inputs, "_pair")
    )
    deduped = latest_per_key(good)  # sorted by (equipment, metric, timestamp), as silver is kept
    flagged = flag_quality(deduped)
    clean = flagged.select(pl.lit(day).alias("day"), *[c for c in SILVER_TELEMETRY.schema if c != "day"])
    return CleanResult(
        clean=clean.cast(dict(SILVER_TELEMETRY.schema)),  # type: ignore[arg-type]
        quarantined=quarantined.cast(dict(QUARANTINE_TELEMETRY.schema)),  # type: ignore[arg-type]
        landed=raw.height,
        duplicates=good.height - deduped.height,
    )
