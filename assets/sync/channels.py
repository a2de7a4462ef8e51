"""Sync channels: the national center and the industry nodes (contracts: warehouse.registry.SYNC_CHANNELS).

A day's release is computed once on the whole city x industry table (assets/sync/release.py) and each
channel receives its cut of it: an industry node the rows of its GB/T 4754 divisions (cells and
per-division totals, never a city or province total, which would cover other industries) and the
measures its contract names up to its grade. Every channel gets the same suppression pattern, so what any
nodes put together is a part of the national table, which the policy protects as a whole; and a
restatement is released against the versions every channel's nodes hold (assets/sync/sync.py).

Which nodes a sync reaches: the ones asked for, and every other channel's node that received the day, so
a restatement reaches every channel that received the day (`targets`).
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from assets.sync.measures import MEASURES, Measure, groups, released
from assets.sync.release import Release
from assets.sync.transport import NodeConfig
from warehouse.registry import SYNC_CHANNELS, SYNC_LEDGER, SyncChannel
from warehouse.settings import Settings
from warehouse.storage import Lake

INDUSTRY_LEVELS = ("cell", "industry_total")  # what an industry node receives: its divisions' rows only


class UnknownChannel(ValueError):
    """A channel name no contract declares, or an industry node without a URL."""


def channel(name: str) -> SyncChannel:
    """The declared contract of a channel, or UnknownChannel naming the ones there are."""
    try:
        return SYNC_CHANNELS[name]
    except KeyError:
        raise UnknownChannel(f"no sync channel {name!r}; declared: {', '.join(SYNC_CHANNELS)}") from None


def channel_measures(ch: SyncChannel, measures: tuple[Measure, ...] = MEASURES) -> tuple[Measure, ...]:
    """The released measures the contract names, up to its grade: a measure regraded above the channel's
    highest grade drops out of its batches instead of reaching it."""
    return tuple(
        m
        for m in released(measures)
        if (ch.measures is None or m.name in ch.measures) and m.grade <= ch.max_grade
    )


def for_channel(rel: Release, ch: SyncChannel, measures: tuple[Measure, ...]) -> Release:
    """The release cut down to what the channel receives, its withheld entries counted over that cut
    (per disclosure group of `measures`, as the node counts them against the manifest)."""
    if not ch.industry:
        return rel
    frame = rel.frame.filter(
        pl.col("industry_code").is_in(list(ch.divisions)) & pl.col("level").is_in(INDUSTRY_LEVELS)
    )
    counts = {"primary": 0, "dominance": 0, "secondary": 0, "restatement": 0}
    for g in groups(measures):
        restated = rel.restated.get(g.name, set())
        for city, industry, reason in (
            frame.filter(pl.col(g.flag)).select("city_code", "industry_code", g.reason).iter_rows()
        ):
            counts["restatement" if (city, industry) in restated else reason] += 1
    return replace(rel, frame=frame, **counts)


def node_config(s: Settings, name: str, url: str | None = None, **limits) -> NodeConfig:
    """A channel's node: `url` or the channel's configured URL, and the province's key for that channel
    (from the environment via the settings, else the home's demo key of the channel)."""
    channel(name)
    target = url or s.sync_node_url_of(name)
    if not target:
        raise UnknownChannel(
            f"no node URL for channel {name!r}: set LAKEHOUSE_SYNC_{name.upper()}_NODE_URL or pass --node"
        )
    key = s.sync_key(name)
    return NodeConfig(url=target, key_id=key.key_id, secret=key.secret, channel=name, **limits)


def receivers(lake: Lake, period: str) -> list[tuple[str, str]]:
    """(channel, node URL) of every node that acknowledged a version of the period."""
    if not lake.exists(SYNC_LEDGER):
        return []
    rows = lake.read(SYNC_LEDGER, columns=["period", "status", "channel", "node"]).filter(
        (pl.col("period") == period) & (pl.col("status") == "acknowledged")
    )
    return sorted(set(rows.select("channel", "node").iter_rows()))


def targets(lake: Lake, period: str, asked: list[NodeConfig], s: Settings) -> list[NodeConfig]:
    """The nodes a sync of the period goes to: those asked for, then every other channel's node that
    received the period (with the settings' key for it), so a restatement reaches all of them. Another
    node of an asked channel is left alone: that channel's nodes are the caller's choice."""
    out = list(asked)
    channels = {n.channel for n in asked}
    limits = {"timeout_s": asked[0].timeout_s, "max_attempts": asked[0].max_attempts} if asked else {}
    for name, url in receivers(lake, period):
        if (
            name not in channels
            and name in SYNC_CHANNELS
            and all(n.url != url or n.channel != name for n in out)
        ):
            out.append(node_config(s, name, url, **limits))
    return out
