"""What one local day releases to one channel: the release check (is the day final and clean?) and the build
(aggregate through DuckDB, the release policy against what the node holds, optional noise, the channel's
contract). Nothing here sends or writes the ledger; assets/sync/sync.py does, with what this returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from assets.sync import noise
from assets.sync.aggregate import aggregate_day
from assets.sync.batch import payload_bytes, sha256
from assets.sync.channels import channel_measures, for_channel
from assets.sync.measures import MEASURES, Measure
from assets.sync.release import Held, Release, release
from assets.telemetry.days import provisional_build, recorded_run
from warehouse.domain import TIMEZONE, local_today
from warehouse.registry import (
    ENERGY_DAILY,
    EQUIPMENT_DAILY,
    NATIONAL_CHANNEL,
    QUALITY_RESULTS,
    SILVER_TELEMETRY,
    THEME_ENTERPRISE,
    TRADE,
    SyncChannel,
)
from warehouse.serving.state import copied_versions
from warehouse.settings import SyncPrivacy
from warehouse.storage import Lake

SOURCES = (ENERGY_DAILY, EQUIPMENT_DAILY)  # partitioned by day: a day is released only once built
READ = (*SOURCES, TRADE, THEME_ENTERPRISE)  # every table the upload reads, with its version in the manifest
# A day is released only if its latest builds passed every blocking (severity error) rule: the themes'
# own, and silver's (quarantine_share_within_limit: "must not feed the themes or the national sync").
QUALITY_GATED = (SILVER_TELEMETRY, ENERGY_DAILY, EQUIPMENT_DAILY)


def release_check(lake: Lake, day: dt.date, *, today: dt.date | None = None) -> str | None:
    """Why the day must not be released now, or None: the sync's release check (final, built by the run
    that recorded it, and its tables' quality gates passed)."""
    if day >= (today or local_today()):
        return f"local day {day} is not over yet ({TIMEZONE}); only finished days are released"
    if (started := provisional_build(lake, day)) is not None:
        return (
            f"local day {day} was last built by a run started {started:%Y-%m-%d %H:%M} UTC, before it "
            "closed (provisional); it is released once rebuilt in full"
        )
    # what a run committed is in the Delta log even when it died before its build record (a provisional
    # run killed at 23:59 leaves today's figures so far and no record that says so): the figures must be
    # those of the run the record names
    recorded = recorded_run(lake, day)
    for spec in SOURCES:
        if day.isoformat() not in lake.partitions(spec):
            return f"{spec.name} has no partition {day}: the theme was not built (or built empty)"
        writer = lake.partition_writer(spec, day)
        if writer is not None and writer["run_id"] != recorded:
            return (
                f"{spec.name} {day} was last written by run {writer['run_id']} at {writer['at']:%Y-%m-%d %H:%M} "
                "UTC, which did not record the day as built (it failed or was killed before the end); it "
                "is released once a run finishes building it"
            )
    results = lake.read(QUALITY_RESULTS, columns=["table_name", "partition", "rule_id", "severity", "passed"])
    failed = results.filter(  # in polars: see ledger.period_rows on pyarrow filters over merged files
        (pl.col("partition") == day.isoformat())
        & pl.col("table_name").is_in([s.name for s in QUALITY_GATED])
        & (pl.col("severity") == "error")
        & ~pl.col("passed")
    ).sort("table_name", "rule_id")
    if failed.height:
        rules = ", ".join(f"{t}:{r}" for t, r in failed.select("table_name", "rule_id").iter_rows())
        return f"blocking checks failed for {day}: {rules}"
    return None


@dataclass(frozen=True)
class Built:
    """A day's released figures, ready to become a batch of any version."""

    release: Release
    payload: bytes
    payload_sha256: str
    source_versions: dict[str, int | None]
    noised: noise.Noised | None = None  # differential privacy on: the draws to spend before sending
    epsilon: float | None = None
    measures: tuple[Measure, ...] = MEASURES  # what the payload carries (the channel's measures)


def build(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    day: dt.date,
    measures: tuple[Measure, ...] = MEASURES,
    held: tuple[Held, ...] = (),
    privacy: SyncPrivacy | None = None,
    channel: SyncChannel = NATIONAL_CHANNEL,
) -> Built:
    """Aggregate through DuckDB and apply the release policy against the versions the node holds (`held`),
    noting the Delta versions read; with `privacy`, noisy estimates go into withheld cells within each
    enterprise's budget (assets/sync/noise.py). The policy runs on the whole table, then the channel's
    contract cuts it down (assets/sync/channels.py). Raises ReleaseHeld when the restatement cannot be
    released."""

    def read() -> tuple[pl.DataFrame, pl.DataFrame | None]:
        aggregates = aggregate_day(con, day, measures=measures)
        return aggregates, noise.contributions(con, day, measures=measures) if privacy else None

    copied = copied_versions(con)
    if copied is not None:  # a role file is a snapshot: its record names what was read, whatever the lake did
        aggregates, contrib = read()
        before = {s.name: copied.get(s.name) for s in READ}
    else:
        for _ in range(3):  # views over the lake, a theme rebuilt while reading: read again, so the
            before = {s.name: lake.version(s) for s in READ}  # versions name what was read
            aggregates, contrib = read()
            if before == {s.name: lake.version(s) for s in READ}:
                break
    released = release(aggregates, measures=measures, held=held)
    noised = None
    if privacy is not None and contrib is not None:
        spent = noise.spent(lake, day.isoformat())
        noised = noise.add_noise(released, contrib, privacy, spent=spent, held=held, measures=measures)
        released = noised.release
    sent = channel_measures(channel, measures)
    released = for_channel(released, channel, sent)
    payload = payload_bytes(released.frame, sent)
    epsilon = privacy.epsilon if privacy else None
    return Built(released, payload, sha256(payload), before, noised, epsilon, sent)
