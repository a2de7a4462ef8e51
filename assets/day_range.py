"""One daily_job run, a range of local days: every day built, gated and recorded as if it had its own run.

A backfill pays Dagster's cost per run (~200 events) once per range instead of once per day: the
day-partitioned assets carry `daily_backfill` (at most LAKEHOUSE_DAYS_PER_RUN days per run) and loop over
`context.partition_keys`. Two things Dagster does per step, not per day, are put back per day here:

- **Materializations.** One output yields one materialization per day of the range; each day's own
  metadata (row counts, versions, previews) goes on its partition (`add_asset_metadata`). A day an asset
  did not build carries `lakehouse/blocked` (why) on its partition instead.
- **Checks.** A check key is evaluated once per step: the days' results are combined into one (passed
  only if every day passed; which days failed in its metadata). A failing ERROR check fails the step and
  skips every downstream step, i.e. every day. So when some day of the range passed, the combined result
  is reported as a warning and the failing day is blocked here instead: downstream assets skip the days
  that carry `lakehouse/blocked` on an upstream partition of this run, and mark them blocked in turn;
  `catalog/day_build` records the other days and then fails the run, naming the blocked ones. A run of one
  day, or a range where every day failed, keeps Dagster's own blocking unchanged.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    BetaWarning,
    DagsterEventType,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from warehouse.settings import settings

BLOCKED = "lakehouse/blocked"
# The tags of a run over a range of partitions (what a single-run backfill of the range gets).
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# `backfill_policy` on @asset is beta in Dagster 1.13 (on @multi_asset it is not): said once here.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)
# Every day-partitioned asset of daily_job: a backfill of many days runs them in ranges of this many days.
daily_backfill = BackfillPolicy.multi_run(max_partitions_per_run=settings().days_per_run)


def run_days(context: AssetExecutionContext) -> list[dt.date]:
    """The local days of this run: one for a partition run, every day of a partition-range run."""
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def day_ranges(days: list[dt.date], size: int) -> list[list[dt.date]]:
    """Consecutive days in runs of at most `size` (a gap starts a new run)."""
    ranges: list[list[dt.date]] = []
    for day in sorted(days):
        last = ranges[-1] if ranges else None
        if last and len(last) < size and day - last[-1] == dt.timedelta(days=1):
            last.append(day)
        else:
            ranges.append([day])
    return ranges


def blocked_upstream(context: AssetExecutionContext, upstream: Iterable[AssetKey]) -> dict[dt.date, str]:
    """Days an upstream asset of this run marked blocked (its gate failed, or it skipped the day itself).

    Only a range run can have some: in a run of one day a blocked day fails the step, as before."""
    if len(context.partition_keys) < 2:
        return {}
    keys = set(upstream)
    records = context.instance.get_records_for_run(
        context.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    blocked: dict[dt.date, str] = {}
    for record in records:
        mat = record.event_log_entry.asset_materialization
        if mat is not None and mat.asset_key in keys and mat.partition and BLOCKED in mat.metadata:
            blocked.setdefault(dt.date.fromisoformat(mat.partition), str(mat.metadata[BLOCKED].value))
    return blocked


def _failed_blocking(result: AssetCheckResult) -> bool:
    return not result.passed and result.severity == AssetCheckSeverity.ERROR


def _value(v: MetadataValue) -> object:
    value = v.value
    return value if isinstance(value, (int, float, str, bool)) else None


def combine_checks(by_day: dict[dt.date, AssetCheckResult], *, downgrade: bool) -> AssetCheckResult:
    """One result for one check over the days of a range; per-day outcomes in its metadata.

    `downgrade`: a failure is reported as WARN because the failing days were blocked in the assets."""
    if len(by_day) == 1:
        return next(iter(by_day.values()))
    first = next(iter(by_day.values()))
    failed = [d.isoformat() for d, r in by_day.items() if not r.passed]
    per_day = {
        d.isoformat(): {
            "passed": r.passed,
            **{k: _value(v) for k, v in r.metadata.items() if _value(v) is not None},
        }
        for d, r in by_day.items()
    }
    severity = AssetCheckSeverity.WARN if failed and downgrade else first.severity
    return AssetCheckResult(
        asset_key=first.asset_key,
        check_name=first.check_name,
        passed=not failed,
        severity=severity,
        description=(
            f"failed on {', '.join(failed)} of {len(by_day)} days"
            + (" (those days blocked)" if first.severity == AssetCheckSeverity.ERROR else "")
            if failed
            else f"passed on all {len(by_day)} days"
        ),
        metadata={
            "days": len(by_day),
            "days_failed": MetadataValue.json(failed),
            "by_day": MetadataValue.json(per_day),
        },
    )


@dataclass
class DayRange:
    """The days of one run, what each asset built on each of them, and which days are blocked (and why)."""

    days: list[dt.date]
    blocked: dict[dt.date, str] = field(default_factory=dict)
    built: dict[AssetKey, dict[dt.date, MaterializeResult]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)  # the step's body began (for the bench)

    @classmethod
    def of(cls, context: AssetExecutionContext, upstream: Sequence[AssetKey] = ()) -> DayRange:
        """This run's days, those blocked upstream already left out of `to_build`; with none left to
        build, the step fails (Dagster then skips what follows, as for one blocked day)."""
        span = cls(run_days(context), dict(blocked_upstream(context, upstream)))
        if not span.to_build:
            raise Failure(f"every day of this run is blocked upstream: {span.reasons()}")
        return span

    @property
    def to_build(self) -> list[dt.date]:
        return [d for d in self.days if d not in self.blocked]

    def reasons(self) -> str:
        return "; ".join(f"{d}: {why}" for d, why in sorted(self.blocked.items()))

    def add(self, day: dt.date, results: Iterable[MaterializeResult]) -> None:
        """A day's results, as the asset yielded them for a run of that day; a failed blocking check
        blocks the day for everything downstream."""
        for result in results:
            key = AssetKey.from_coercible(result.asset_key)
            self.built.setdefault(key, {})[day] = result
            failed = [c.check_name for c in result.check_results if _failed_blocking(c)]
            if failed:
                self.blocked.setdefault(day, f"{key.to_user_string()} failed {', '.join(failed)}")

    def results(
        self, context: AssetExecutionContext, keys: Sequence[AssetKey]
    ) -> Iterator[MaterializeResult]:
        """One MaterializeResult per asset that built at least one day: each day's metadata on its partition,
        one combined result per check; an asset that built no day yields nothing (as a skipped output).
        The first carries `step_compute_seconds`: the body's time up to here, without Dagster's own work."""
        step = {"step_compute_seconds": round(time.perf_counter() - self.started, 3)}
        for key in keys:
            by_day = self.built.get(key, {})
            if not by_day:
                continue
            for day in self.days:
                done = by_day.get(day)
                meta = dict(done.metadata or {}) if done is not None else {}
                if day in self.blocked:
                    meta[BLOCKED] = self.blocked[day]
                context.add_asset_metadata(meta, asset_key=key, partition_key=day.isoformat())
            yield MaterializeResult(
                asset_key=key,
                metadata={"days_built": len(by_day), "days_in_run": len(self.days), **step},
                check_results=self._checks(by_day),
                tags=merged_tags(r.tags for r in by_day.values()),
            )
            step = {}

    def _checks(self, by_day: dict[dt.date, MaterializeResult]) -> list[AssetCheckResult]:
        grouped: dict[str, dict[dt.date, AssetCheckResult]] = {}
        for day, result in by_day.items():
            for check in result.check_results:
                grouped.setdefault(check.check_name or "", {})[day] = check
        return [combine_checks(g, downgrade=len(self.to_build) > 0) for g in grouped.values()]


def merged_tags(tags: Iterable[dict | None]) -> dict[str, str]:
    """One set of tags for every day's materialization: a tag whose days differ is `true` if any day says
    so (the provisional tag: conservative; each day's own flag is in its partition's metadata)."""
    merged: dict[str, str] = {}
    for t in tags:
        for k, v in (t or {}).items():
            merged[k] = "true" if "true" in (merged.get(k), v) else v
    return merged
