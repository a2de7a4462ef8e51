"""Landing files: one file per gateway and local day, in the gateway's format and timestamp style.

Records of a day are built as columns (polars string expressions), sorted, and cut into files; the
counts the manifest needs are tallied from exactly the rows written; simulator.formats turns them into
each format's bytes.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from simulator.defect_kinds import (
    BAD_VALUES,
    KINDS,
    NO_TS_KINDS,
    QUARANTINE_REASON,
    REASONS,
    UNIT_NAMES,
    UNKNOWN_UNITS,
    DefectPlan,
    K,
    variant_values,
)
from simulator.formats import csv_bodies, jsonl_bodies, parquet_bodies, rejected_payload
from simulator.province import Province
from simulator.telemetry import METRIC_NAMES, SLOTS, CleanGrid
from warehouse.domain import METRICS, SAMPLING_INTERVAL_MINUTES, TIMEZONE

FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")
FORMAT_SHARE = (0.5, 0.3, 0.2)
TS_STYLES: tuple[str, ...] = ("utc_z", "utc_offset", "local_offset", "local_naive")
TS_STYLE_SHARE = (0.3, 0.3, 0.2, 0.2)
NAIVE = TS_STYLES.index("local_naive")
OLD_DAYS = 13  # timestamps are prepared from this many days before start (late re-sends)
DROP_TIME = dt.time(0, 20)  # gateways drop day D's file at D+1 00:20 local, plus jitter
JITTER_MINUTES = 30
REJECTED = {"empty_file": ".jsonl", "unreadable_parquet": ".parquet", "missing_columns": ".csv"}
REJECTED_ROWS = 48
_TZ = ZoneInfo(TIMEZONE)
_CATEGORIES = ("clean", "duplicate", *REASONS)
_REASON_OF_KIND = np.full(len(KINDS), 0, dtype=np.int8)
for _kind, _reason in QUARANTINE_REASON.items():
    _REASON_OF_KIND[K[_kind]] = _CATEGORIES.index(_reason)


def _quota(n: int, shares: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Category per item with counts as close to the shares as integers allow (largest remainder)."""
    raw = np.array(shares) * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


@dataclass
class LandingPlan:
    """How each gateway sends (format, timestamp style, drop-time jitter) and the file-level defects."""

    gateway_ids: list[str]
    formats: np.ndarray  # str per gateway
    styles: np.ndarray  # int index into TS_STYLES per gateway
    jitter_s: np.ndarray  # int (G, days) seconds after 00:20 local
    resent: set[tuple[int, int]] = field(default_factory=set)  # (gateway, day) files also sent twice
    bom: set[tuple[int, int]] = field(default_factory=set)
    gbk: set[tuple[int, int]] = field(default_factory=set)
    rejected: dict[str, tuple[int, int]] = field(default_factory=dict)  # reason -> (gateway, day)

    @property
    def format_code(self) -> np.ndarray:
        return np.array([FORMATS.index(f) for f in self.formats], dtype=np.int8)


def plan_landing(prov: Province, days: int, rate: float, rng: np.random.Generator) -> LandingPlan:
    n_gw = prov.sites.height
    plan = LandingPlan(
        gateway_ids=prov.gateways,
        formats=np.array(FORMATS)[_quota(n_gw, FORMAT_SHARE, rng)],
        styles=_quota(n_gw, TS_STYLE_SHARE, rng),
        jitter_s=rng.integers(0, JITTER_MINUTES * 60, size=(n_gw, days)),
    )
    if rate <= 0:
        return plan
    files = [(g, d) for g in range(n_gw) for d in range(days)]
    n_resent = min(len(files) // 2, max(1, round(rate * len(files) * 2)))
    plan.resent = {files[i] for i in rng.choice(len(files), size=n_resent, replace=False)}
    csv_files = [(g, d) for g, d in files if plan.formats[g] == "csv"]
    if len(csv_files) >= 2:
        order = rng.permutation(len(csv_files))
        n_each = max(1, min(len(csv_files) // 4, round(rate * 5 * len(csv_files))))
        plan.bom = {csv_files[i] for i in order[:n_each]}
        plan.gbk = {csv_files[i] for i in order[n_each : 2 * n_each]}
    if days >= 2:
        by_format = {f: np.flatnonzero(plan.formats == f) for f in FORMATS}
        for reason, preferred in (
            ("empty_file", "jsonl"),
            ("unreadable_parquet", "parquet"),
            ("missing_columns", "csv"),
        ):
            pool = by_format[preferred] if by_format[preferred].size else np.arange(n_gw)
            plan.rejected[reason] = (int(rng.choice(pool)), int(rng.integers(0, days)))
    return plan


def drop_time(start: dt.date, day: int, jitter_s: int) -> int:
    """mtime (epoch ns) of the file for local day `day`: the next local day at 00:20 plus jitter."""
    moment = dt.datetime.combine(start + dt.timedelta(days=day + 1), DROP_TIME, tzinfo=_TZ)
    return (int(moment.timestamp()) + int(jitter_s)) * 1_000_000_000


def _ts_lookup(start: dt.date, n_slots: int) -> pl.Series:
    """Every slot's timestamp text in every style, indexed style * (OLD_DAYS*96 + T) + OLD_DAYS*96 + t."""
    first = dt.datetime.combine(start, dt.time()) - dt.timedelta(days=OLD_DAYS)
    step = dt.timedelta(minutes=SAMPLING_INTERVAL_MINUTES)
    local = pl.datetime_range(first, first + step * (OLD_DAYS * SLOTS + n_slots - 1), step, eager=True)
    offset = dt.datetime.combine(start, dt.time(), tzinfo=_TZ).utcoffset()  # Asia/Shanghai: +08:00, no DST
    assert offset is not None
    utc = local - offset
    return pl.concat(
        [
            utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            utc.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            local.dt.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            local.dt.strftime("%Y-%m-%d %H:%M:%S"),
        ]
    )


def _bad_ts_lookup(start: dt.date, days: int) -> pl.Series:
    """Six unparseable timestamps per day index -OLD_DAYS .. days + 8, some looking almost right."""
    out = []
    for d in range(-OLD_DAYS, days + 8):
        date = start + dt.timedelta(days=d)
        out += [
            "yesterday",
            "N/A",
            "0000-00-00 00:00:00",
            f"{date.year}-13-45 99:00:00",
            f"{date} 25:61:00",
            "--:--",
        ]
    return pl.Series(out)


@dataclass
class Tally:
    """Counts of what was written, for the manifest."""

    by_day: dict[int, Counter] = field(default_factory=dict)  # reading day index -> category counts
    by_batch_day: dict[int, Counter] = field(default_factory=dict)  # same, unplaceable -> file's batch day
    kinds: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)  # late_within, late_beyond, resent, bom, gbk, rejected
    files_written: int = 0
    files_by_format: Counter = field(default_factory=Counter)
    no_offset: int = 0

    @staticmethod
    def add_day_counts(into: dict[int, Counter], day: np.ndarray, category: np.ndarray) -> None:
        keys, counts = np.unique(day.astype(np.int64) * 16 + category, return_counts=True)
        for key, n in zip(keys.tolist(), counts.tolist(), strict=True):
            d, c = divmod(key, 16)
            into.setdefault(d, Counter())[_CATEGORIES[c]] += n


class TelemetryWriter:
    """Writes the telemetry files of a province, day by day, and tallies them."""

    def __init__(
        self,
        root: Path,
        prov: Province,
        grid: CleanGrid,
        defects: DefectPlan,
        landing: LandingPlan,
        start: dt.date,
    ) -> None:
        self.root, self.prov, self.grid, self.defects, self.landing, self.start = (
            root,
            prov,
            grid,
            defects,
            landing,
            start,
        )
        self.series_gateway = prov.eq_site[grid.series_eq]
        eq = prov.equipment
        self.series_uscc = eq["uscc"].gather(grid.series_eq)
        self.series_eqid = eq["equipment_id"].gather(grid.series_eq)
        self.series_metric = pl.Series([METRIC_NAMES[m] for m in grid.series_metric], dtype=pl.String)
        self.series_unit = pl.Series(
            [METRICS[METRIC_NAMES[m]].unit for m in grid.series_metric], dtype=pl.String
        )
        self.is_state = np.array([METRICS[m].kind == "state" for m in METRIC_NAMES])[grid.series_metric]
        self.is_meter = np.array([METRICS[m].kind == "cumulative" for m in METRIC_NAMES])[grid.series_metric]
        self.ts = _ts_lookup(start, grid.n_slots)
        self.ts_stride = OLD_DAYS * SLOTS + grid.n_slots
        self.bad_ts = _bad_ts_lookup(start, grid.days)
        self.gw_rows = [np.flatnonzero(self.series_gateway == g) for g in range(len(landing.gateway_ids))]
        late = (defects.late > 0) & ~defects.gap
        s, t = np.nonzero(late)
        target = t // SLOTS + defects.late[s, t]
        order = np.argsort(target, kind="stable")
        self.late_s, self.late_t, self.late_target = s[order], t[order], target[order]
        self.tally = Tally()
        self._folders: set[Path] = set()

    def write_all(self) -> Tally:
        for day in range(self.grid.days):
            self._write_day(day)
        return self.tally

    def _cells(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(series, slot, block) of the records in day `day`'s files: on time, late, old re-sends."""
        d = self.defects
        window = slice(day * SLOTS, (day + 1) * SLOTS)
        s0, o0 = np.nonzero(~d.gap[:, window] & (d.late[:, window] == 0))
        lo, hi = np.searchsorted(self.late_target, [day, day + 1])
        parts_s, parts_t = [s0, self.late_s[lo:hi]], [day * SLOTS + o0, self.late_t[lo:hi]]
        parts_b = [np.zeros(s0.size, np.int8), np.ones(hi - lo, np.int8)]
        for b in d.buffers:
            if b.file_day == day:
                rows = self.gw_rows[b.gateway]
                slots = b.old_day * SLOTS + b.first_slot + np.arange(b.n_slots)
                parts_s.append(np.repeat(rows, slots.size))
                parts_t.append(np.tile(slots, rows.size))
                parts_b.append(np.full(rows.size * slots.size, 2, np.int8))
        return np.concatenate(parts_s), np.concatenate(parts_t), np.concatenate(parts_b)

    def _records(self, day: int) -> pl.DataFrame:
        """All rows of the day's files, sorted by gateway then time, with the six fields as landed text."""
        s, t, block = self._cells(day)
        old = block == 2
        t_cell = np.where(old, np.mod(t, SLOTS), t)  # old re-sends repeat day 0's values
        kind = np.where(old, 0, self.defects.kind[s, t_cell]).astype(np.int8)
        choice = np.where(old, 0, self.defects.choice[s, t_cell]).astype(np.int64)
        value = self.grid.values[s, t_cell] + 0.0  # no "-0.0"
        value = np.where(old & self.is_meter[s], np.round(value * 0.97, 3), value)
        reps = np.where(kind == K["exact_duplicate"], 2, 1)
        idx = np.repeat(np.arange(s.size), reps)
        copy = np.arange(idx.size) - np.repeat(np.cumsum(reps) - reps, reps)
        s, t, block, kind, choice, value = s[idx], t[idx], block[idx], kind[idx], choice[idx], value[idx]
        g = self.series_gateway[s]
        order = np.lexsort((copy, s, t, block, g))
        s, t, block, kind, choice, value, g, copy = (
            a[order] for a in (s, t, block, kind, choice, value, g, copy)
        )

        variant = kind == K["unit_variant"]
        x, vunit = variant_values(value, np.where(variant, self.grid.series_metric[s], -1), choice)
        shown = pl.Series(np.where(variant, x, value))
        state = self.is_state[s]
        num = shown.cast(pl.String)
        if state.any():
            num = num.scatter(np.flatnonzero(state), shown.filter(state).cast(pl.Int64).cast(pl.String))
        style = self.landing.styles[g]
        frame = pl.DataFrame(
            {
                "g": g,
                "block": block,
                "t": t,
                "s": s,
                "copy": copy,
                "kind": kind,
                "choice": choice,
                "fmt": self.landing.format_code[g],
                "uscc": self.series_uscc.gather(s),
                "eqid": self.series_eqid.gather(s),
                "metric": self.series_metric.gather(s),
                "unit0": self.series_unit.gather(s),
                "ts0": self.ts.gather(style * self.ts_stride + OLD_DAYS * SLOTS + t),
                "num": num,
            }
        )
        # Defect texts, computed only for the few rows that carry them.
        special = {
            "unknown_equipment": lambda c, d: "EQ9" + f"{c % 100_000:05d}",
            "bad_timestamp": lambda c, d: self.bad_ts[(d + OLD_DAYS) * 6 + c % 6],
            "unknown_unit": lambda c, d: UNKNOWN_UNITS[c % len(UNKNOWN_UNITS)],
            "bad_value": lambda c, d: BAD_VALUES[c % len(BAD_VALUES)],
        }
        columns = {
            "unknown_equipment": "eqid",
            "bad_timestamp": "ts0",
            "unknown_unit": "unit0",
            "bad_value": "num",
        }
        text_day = np.floor_divide(t, SLOTS)
        updates = {}
        for name, make in special.items():
            rows = np.flatnonzero(kind == K[name])
            if rows.size:
                texts = [make(int(c), int(d)) for c, d in zip(choice[rows], text_day[rows], strict=True)]
                updates[columns[name]] = frame[columns[name]].scatter(rows, pl.Series(texts, dtype=pl.String))
        rows = np.flatnonzero(variant)
        if rows.size:
            units = pl.Series(UNIT_NAMES).gather(vunit[rows])
            updates["unit0"] = updates.get("unit0", frame["unit0"]).scatter(rows, units)
        frame = frame.with_columns(**updates)
        return frame.rename({"eqid": "equipment_id", "ts0": "ts", "unit0": "unit"})

    def _write_day(self, day: int) -> None:
        frame = self._records(day)
        land = self.landing
        g = frame["g"].to_numpy()
        kind = frame["kind"].to_numpy()
        copy = frame["copy"].to_numpy()
        block = frame["block"].to_numpy()
        t = frame["t"].to_numpy()

        # Tallies: reading day (landing date when the timestamp cannot be read) and category.
        no_ts = np.isin(kind, NO_TS_KINDS)
        reading_day = np.where(no_ts, day + 1, np.floor_divide(t, SLOTS))
        category = np.where(copy == 1, 1, _REASON_OF_KIND[kind])
        category = np.where(block == 2, _CATEGORIES.index("late_beyond_watermark"), category)
        tally = self.tally
        tally.add_day_counts(tally.by_day, reading_day, category)
        # Alternative routing: records without a usable day go to their file's batch day (the most
        # common reading day of its placeable records, earliest on a tie).
        placeable = ~no_ts & (block != 2)
        counts = (
            pl.DataFrame({"g": g[placeable], "d": reading_day[placeable]})
            .group_by("g", "d")
            .len()
            .sort(["g", "len", "d"], descending=[False, True, False])
            .unique("g", keep="first", maintain_order=True)
        )
        batch = np.full(len(land.gateway_ids), day + 1)
        batch[counts["g"].to_numpy()] = counts["d"].to_numpy()
        tally.add_day_counts(tally.by_batch_day, np.where(placeable, reading_day, batch[g]), category)
        kinds, counts = np.unique(kind[copy == 0], return_counts=True)
        for k, n in zip(kinds.tolist(), counts.tolist(), strict=True):
            tally.kinds[KINDS[k]] += n
        tally.rows["late_within_watermark"] += int((block == 1).sum())
        tally.rows["late_beyond_watermark"] += int((block == 2).sum())
        tally.no_offset += int(((land.styles[g] == NAIVE) & ~no_ts).sum())

        parts = {fmt: frame.filter(pl.col("fmt") == i) for i, fmt in enumerate(FORMATS)}
        payloads: dict[int, tuple[bytes, int]] = {}
        payloads |= csv_bodies(parts["csv"], day, land.bom, land.gbk)
        payloads |= jsonl_bodies(parts["jsonl"])
        payloads |= parquet_bodies(parts["parquet"], land.formats)

        for gw in range(len(land.gateway_ids)):
            data, n_rows = payloads.get(gw, (b"", 0))
            if n_rows == 0:  # a silent feed (simulator.feeds): no file that day
                assert not self._special(gw, day), "a silent gateway has no file-level defect that day"
                continue
            fmt = str(land.formats[gw])
            if (gw, day) in land.gbk:
                tally.rows["gbk_csv"] += n_rows
            if (gw, day) in land.bom:
                tally.rows["bom_csv"] += n_rows
            mtime = drop_time(self.start, day, land.jitter_s[gw, day])
            date = self.start + dt.timedelta(days=day)
            stem = f"{land.gateway_ids[gw]}_{date:%Y%m%d}"
            folder = self.root / land.gateway_ids[gw] / date.isoformat()
            self._write(folder / f"{stem}.{fmt}", data, mtime, fmt)
            if (gw, day) in land.resent:
                self._write(folder / f"{stem}_resent.{fmt}", data, mtime, fmt)
                tally.rows["resent_file"] += n_rows
                tally.rows["resent_files"] += 1
            for reason, where in land.rejected.items():
                if where == (gw, day):
                    rows = frame.filter(pl.col("g") == gw).head(REJECTED_ROWS)
                    n, payload = rejected_payload(reason, rows)
                    ext = REJECTED[reason]
                    self._write(folder / f"{stem}_retry{ext}", payload, mtime + 60_000_000_000, ext[1:])
                    tally.rows[reason] += n

    def _special(self, gw: int, day: int) -> bool:
        land = self.landing
        return (gw, day) in land.resent | land.bom | land.gbk or (gw, day) in land.rejected.values()

    def _write(self, path: Path, data: bytes, mtime_ns: int, fmt: str) -> None:
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        path.write_bytes(data)
        os.utime(path, ns=(mtime_ns, mtime_ns))
        self.tally.files_written += 1
        self.tally.files_by_format[fmt] += 1
