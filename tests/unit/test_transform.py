import datetime as dt
import itertools
import math

import polars as pl
import pytest

from assets.telemetry.transform import (
    clean_telemetry,
    local_day,
    local_day_of,
    parse_ts_utc,
    route_reading_days,
    ts_utc_of,
)
from tests.unit.helpers import bronze, equipment, series

DAY = dt.date(2026, 11, 2)


def clean(rows, **kw):
    return clean_telemetry(bronze(rows, **kw), equipment(), day=DAY, run_id="r")


@pytest.mark.parametrize(
    "ts",
    ["2026-11-02T00:15:00Z", "2026-11-02T00:15:00+00:00", "2026-11-02T08:15:00+08:00", "2026-11-02 08:15:00"],
)
def test_timestamps_with_offset_or_local_without_offset_give_the_same_utc_instant(ts):
    got = pl.DataFrame({"ts": [ts]}).select(parse_ts_utc()).item()
    assert got == dt.datetime(2026, 11, 2, 0, 15, tzinfo=dt.UTC)


def test_the_fast_column_parse_gives_exactly_the_full_normalization_on_every_form():
    """ts_utc_of takes a shortcut for offset forms; on hostile and odd texts it must not differ at all."""
    dates = ["2026-11-02", "1988-07-01", "2026-13-02", "2026-11-2"]
    seps = ["T", " ", "T ", "t"]
    times = ["14:15:00", "14:15:00.5", "14:15:00.123456789", "14:15", " 4:15:00"]
    offsets = [
        "",
        "Z",
        "z",
        "+08:00",
        "+0800",
        "+08",
        "-05:30",
        " +08:00",
        "\t+08:00",
        "\u3000Z",
        "+08: 00",
        "Zx",
    ]
    pads = [("", ""), (" ", ""), ("", " "), ("\t", "\n")]
    texts = [
        f"{a}{d}{s}{t}{o}{b}" for d, s, t, o, (a, b) in itertools.product(dates, seps, times, offsets, pads)
    ] + [None, "", "garbage", "Z", "+08:00"]
    ts = pl.Series("ts", texts, dtype=pl.String)
    fast = ts_utc_of(ts)
    full = ts.to_frame().select(parse_ts_utc())["ts"]
    differ = [(t, a, b) for t, a, b in zip(texts, fast.to_list(), full.to_list(), strict=True) if a != b]
    assert not differ, differ[:5]
    assert fast.null_count() < len(texts)  # the grammar does hold parseable forms


def test_the_fixed_offset_local_day_is_the_zone_database_day_from_1900_to_2100():
    """local_day_of's shortcut (UTC+8 since 1992) must agree with Asia/Shanghai's rules, DST years included."""
    instants = pl.datetime_range(
        dt.datetime(1900, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC), "97m", eager=True
    )
    instants = pl.concat([instants, pl.Series([None], dtype=instants.dtype)])
    exact = instants.to_frame("t").select(local_day(pl.col("t")))["t"]
    assert local_day_of(instants).equals(exact, check_names=False)


def reading_day(ts: list, landed_on: dt.date, watermark_days: int, file: str = "f.csv") -> list:
    frame = pl.DataFrame(
        {"ts": ts, "landing_date": [landed_on] * len(ts), "source_file": [file] * len(ts)},
        schema_overrides={"ts": pl.String},
    )
    return route_reading_days(frame, watermark_days)["reading_day"].to_list()


def test_local_midnight_belongs_to_the_local_day_not_the_utc_day():
    ts = ["2026-11-01T16:00:00Z", "2026-11-01T15:59:59Z", "2026-11-01T16:30:00Z"]
    assert reading_day(ts, dt.date(2026, 11, 3), 7) == [
        dt.date(2026, 11, 2),
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 2),
    ]


def test_unplaceable_records_go_to_the_batch_day_of_their_file():
    ts = ["2026-11-02 08:00:00", "garbage", "2026-11-02 09:00:00", "2026-10-20 08:00:00"]
    assert reading_day(ts, dt.date(2026, 11, 3), 7) == [dt.date(2026, 11, 2)] * 4
    assert reading_day(["garbage", None], dt.date(2026, 11, 3), 7) == [dt.date(2026, 11, 3)] * 2


def test_batch_day_is_per_file():
    frame = pl.DataFrame(
        {
            "ts": ["2026-11-01 08:00:00", "bad", "2026-11-02 08:00:00", "bad"],
            "landing_date": [dt.date(2026, 11, 3)] * 4,
            "source_file": ["a.csv", "a.csv", "b.csv", "b.csv"],
        }
    )
    assert route_reading_days(frame, 7)["reading_day"].to_list() == [
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 2),
        dt.date(2026, 11, 2),
    ]


@pytest.mark.parametrize(
    ("metric", "value", "unit", "expected"),
    [
        ("power", "1500", "W", 1.5),
        ("power", "1.5", "MW", 1500.0),
        ("power", "7", "kW", 7.0),
        ("energy", "2500", "Wh", 2.5),
        ("energy", "2", "MWh", 2000.0),
        ("temperature", "373.15", "K", 100.0),
        ("temperature", "85", "℃", 85.0),
        ("pressure", "1600", "kPa", 1.6),
        ("pressure", "16", "bar", 1.6),
        ("gas_volume", "12", "m3", 12.0),
        ("coal_mass", "500", "kg", 0.5),
    ],
)
def test_units_are_normalized_to_the_canonical_unit(metric, value, unit, expected):
    r = clean([{"metric": metric, "value": value, "unit": unit}])
    assert r.clean["value"].item() == pytest.approx(expected)
    assert r.quarantined.is_empty()


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"raw_line": "EQ1,power,2026", "uscc": None}, "malformed_record"),
        ({"ts": "2026-13-45 99:00:00"}, "bad_timestamp"),
        ({"landing_date": dt.date(2026, 11, 12)}, "late_beyond_watermark"),
        ({"ts": "2099-01-01T08:00:00+08:00"}, "future_timestamp"),
        (
            {"ts": "2026-11-03T09:30:00+08:00", "equipment_id": "EQ999999"},
            "unknown_equipment",
        ),  # 30 min ahead: tolerated
        ({"equipment_id": "EQ999999"}, "unknown_equipment"),
        ({"uscc": "913700000000000000"}, "equipment_uscc_mismatch"),
        ({"metric": "humidity"}, "unknown_metric"),
        ({"unit": "furlong"}, "unknown_unit"),
        ({"unit": "kWh"}, "unit_mismatch"),
        ({"value": "NaN"}, "value_missing"),
        ({"value": ""}, "value_missing"),
        ({"value": None}, "value_missing"),
        ({"value": "12,5"}, "bad_value"),
    ],
)
def test_each_defect_is_quarantined_with_its_rule_id_and_payload(override, reason):
    r = clean([override])
    assert r.clean.is_empty()
    assert r.quarantined["reason"].to_list() == [reason]
    assert r.quarantined["payload"].item()
    assert r.reconciles


def test_late_within_watermark_is_clean():
    r = clean([{"landing_date": dt.date(2026, 11, 9)}])
    assert r.quarantined.is_empty() and r.clean.height == 1


def test_duplicates_keep_the_latest_landed_and_are_counted():
    later = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
    r = clean(
        [{"value": "1"}, {"value": "1"}, {"value": "2", "ingested_at": later, "source_file": "late.csv"}]
    )
    assert r.duplicates == 2
    assert r.clean["value"].to_list() == [2.0]
    assert r.clean["source_file"].item() == "late.csv"
    assert r.reconciles and r.landed == 3


def _series(metric, values, unit="kW"):
    return series(metric, values, unit)


def test_out_of_range_is_kept_and_flagged_bad():
    r = clean(_series("power", [10, 10.5, 999_999]))
    assert r.clean["quality_flag"].to_list() == ["good", "good", "bad"]
    assert r.clean["quality_reason"].to_list()[-1] == "out_of_range"


def test_stuck_non_zero_value_is_bad_from_the_fourth_repeat_but_zeros_are_not():
    r = clean(_series("power", [5, 7, 7, 7, 7, 7, 0, 0, 0, 0, 0]))
    assert r.clean["quality_flag"].to_list() == ["good"] * 4 + ["bad", "bad"] + ["good"] * 5


def test_meter_drop_is_uncertain():
    r = clean(_series("energy", [100, 110, 3, 9], unit="kWh"))
    assert r.clean["quality_flag"].to_list() == ["good", "good", "uncertain", "good"]
    assert r.flags == {"good": 3, "uncertain": 1, "bad": 0}


def test_empty_input_reconciles():
    r = clean_telemetry(bronze([]).clear(), equipment(), day=DAY, run_id="r")
    assert r.landed == 0 and r.clean.is_empty() and r.reconciles
    assert not math.isnan(0.0)


def test_a_shards_head_holds_only_its_rows_not_the_shards_buffers():
    """Kept for the day's metadata, a head() slice held every shard's whole silver frame in memory."""
    import gc

    import psutil

    from assets.telemetry.shards import detached_head

    proc = psutil.Process()
    before = proc.memory_info().rss
    heads = []
    for _ in range(8):
        frame = pl.DataFrame({"n": range(4_000_000), "s": ["x" * 24] * 4_000_000})  # ~200 MB each
        heads.append(detached_head(frame))
        del frame
        gc.collect()
    assert all(h.height == 10 for h in heads)
    # eight frames of ~200 MB kept alive by slices would hold ~1.6 GB more; detached heads a few KB
    assert proc.memory_info().rss - before < 0.8 * 2**30, (before, proc.memory_info().rss)


def test_the_integer_key_sort_gives_the_order_of_the_three_column_sort():
    import random

    from assets.telemetry.transform import SERIES_KEY, sorted_by_series_key

    rng = random.Random(7)
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    n = 5_000
    ids = [f"EQ-{rng.randint(0, 60):03d}" for _ in range(n)] + ["EQ-1", "EQ-10", "EQ-1a", "Z", "eq", "É"]
    metrics = [rng.choice(["power_kw", "energy_kwh", "temp", "a", "b_"]) for _ in ids]
    ts = [
        base + dt.timedelta(seconds=rng.randint(0, 3 * 86_400), microseconds=rng.randint(0, 3)) for _ in ids
    ]
    df = pl.DataFrame({"equipment_id": ids, "metric": metrics, "ts_utc": ts, "n": range(len(ids))})
    # every key unique (ties may come out in any order in both sorts): the whole order is comparable
    df = df.unique(subset=SERIES_KEY, keep="first", maintain_order=True)
    assert sorted_by_series_key(df).equals(df.sort(SERIES_KEY))
    assert sorted_by_series_key(df).flags == df.sort(SERIES_KEY).flags  # group-bys take the same path
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=3)
    assert sorted_by_series_key(shuffled).equals(df.sort(SERIES_KEY))
    # with a null in a key column, or a span that does not fit the key: the plain sort
    nulls = df.with_columns(ts_utc=pl.when(pl.col("n") == 5).then(None).otherwise(pl.col("ts_utc")))
    assert sorted_by_series_key(nulls).equals(nulls.sort(SERIES_KEY))
    wide = df.with_columns(
        ts_utc=pl.when(pl.col("n") == 5)
        .then(pl.lit(dt.datetime(1, 1, 1, tzinfo=dt.UTC)))
        .otherwise(pl.lit(dt.datetime(9999, 1, 1, tzinfo=dt.UTC)))
    ).unique(subset=SERIES_KEY, keep="first", maintain_order=True)
    assert sorted_by_series_key(wide).equals(wide.sort(SERIES_KEY))
    assert sorted_by_series_key(df.head(1)).equals(df.head(1))
    assert sorted_by_series_key(df.clear()).equals(df.clear())
    # the ranks `prepare` gives (the master's and the metrics' places in text order, not dense): the
    # same order, and the column is gone
    places = {
        c: {v: 3 * n for n, v in enumerate(sorted(set(df[c].to_list())))} for c in ("equipment_id", "metric")
    }
    ranked = shuffled.with_columns(
        _pair=pl.col("equipment_id").replace_strict(places["equipment_id"], return_dtype=pl.Int64) * 100
        + pl.col("metric").replace_strict(places["metric"], return_dtype=pl.Int64)
    )
    assert sorted_by_series_key(ranked).equals(df.sort(SERIES_KEY))
    # a null rank (a row whose equipment or metric is unknown): the frame's own distinct pairs
    holed = ranked.with_columns(_pair=pl.when(pl.col("n") == 5).then(None).otherwise(pl.col("_pair")))
    assert sorted_by_series_key(holed).equals(df.sort(SERIES_KEY))


def test_value_number_is_the_stripped_text_cast():
    """Casting first and stripping only what did not parse gives the strip-then-cast numbers."""
    from assets.telemetry.transform import _value_number

    texts = ["1.5", " 2.5", "3.5 ", "\t4\n", "nan", " NaN ", "", "  ", None, "abc", "1e3", " -0.0", "inf"]
    texts += ["+5", "1,5", "１２", "\u00a012.5\u00a0", "0x10", ".5", "5.", "-", " 7 7 "]
    value = pl.Series(texts, dtype=pl.String)
    expected = value.str.strip_chars().cast(pl.Float64, strict=False)
    got = _value_number(value)
    assert got.name == "value_num"
    assert got.fill_nan(-1.0).to_list() == expected.fill_nan(-1.0).to_list()
    assert got.is_nan().fill_null(False).to_list() == expected.is_nan().fill_null(False).to_list()
