"""What a refresh must do to one role's file, decided from its bookkeeping and the Delta logs: tables
copied whole, partitions replaced (only those the commits since touched), tables dropped, marts rebuilt.
Nothing here writes; warehouse.serving.refresh carries the plans out."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from warehouse.access import Role, visible_columns
from warehouse.domain import local_today
from warehouse.lake_upkeep import is_layout_commit
from warehouse.registry import TABLES, TableSpec
from warehouse.serving.contents import Mart, select_sql
from warehouse.serving.state import read_state
from warehouse.storage import Lake

# A window: the first partition value (a local date) a role file keeps of a per-reading table; None: all
Since = dt.date | None


@dataclass
class Plan:
    """What one role file needs: tables copied whole, partitions replaced, tables trimmed to their window,
    tables dropped, marts rebuilt."""

    role: Role
    db: Path
    from_live: bool  # start from a copy of the live file (else from nothing)
    # spec, select, fp, version, since
    full: list[tuple[TableSpec, str, str, int, Since]] = field(default_factory=list)
    partial: list[tuple[TableSpec, str, str, int, set, Since]] = field(default_factory=list)
    trim: list[tuple[TableSpec, str, int, dt.date]] = field(default_factory=list)  # spec, fp, version, since
    drop: list[str] = field(default_factory=list)
    marts: list[tuple[Mart, int]] = field(default_factory=list)
    drop_marts: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.full or self.partial or self.trim or self.drop or self.marts or self.drop_marts)

    def names(self) -> list[str]:
        return [s.name for s, *_ in (*self.full, *self.partial, *self.trim)] + [m.name for m, _ in self.marts]


def delta_version(lake: Lake, spec: TableSpec) -> int | None:
    """The latest committed version of a Delta table, from its log's file names (no log parsed)."""
    return lake.log_version(spec)


def changed_partitions(lake: Lake, spec: TableSpec, since: int, until: int) -> set | None:
    """Partition values touched by commits since+1..until; None when the change cannot be confined to
    partitions (unpartitioned table, schema or protocol change, log gone). Housekeeping's compactions
    rewrite files, not rows: they touch nothing."""
    if not spec.partition_by:
        return None
    touched: set = set()
    for version in range(since + 1, until + 1):
        text = lake.log_commit(spec, version)
        if text is None:
            return None
        actions = [json.loads(line) for line in filter(str.strip, text.splitlines())]
        if any("metaData" in a or "protocol" in a for a in actions):
            return None
        days = _days_of_commit(spec, actions) if spec.month_files else _partitions_of_actions(spec, actions)
        if days is None:
            return None
        touched |= days
    return touched


def _partitions_of_actions(spec: TableSpec, actions: list[dict]) -> set | None:
    """A day-partitioned table: the partition values of the commit's file actions that change data
    (dataChange false: a compaction's)."""
    touched: set = set()
    for action in actions:
        for kind in ("add", "remove"):
            if kind in action and action[kind].get("dataChange") is not False:
                values = action[kind].get("partitionValues")
                if not isinstance(values, dict) or spec.partition_by not in values:
                    return None
                touched.add(values[spec.partition_by])
    return touched


def _days_of_commit(spec: TableSpec, actions: list[dict]) -> set | None:
    """A table laid out by month, whose file actions name no day: the day the commit says it replaced
    (`replace_partition day=...`); a month compaction touches none; any other data commit: None."""
    commit = next((a["commitInfo"] for a in actions if "commitInfo" in a), None)
    if commit is None:
        return None
    op, prefix = str(commit.get("lakehouse.operation") or ""), f"replace_partition {spec.partition_by}="
    if op.startswith(prefix):
        return {op[len(prefix) :]}
    return set() if is_layout_commit(commit) else None


def _fingerprint(spec: TableSpec, select: str, since: Since) -> str:
    """What the copy holds: its columns and description, and for a window the first day it keeps
    (`<hash>@<day>`): a window that moved on is trimmed, one that grew is copied again."""
    digest = hashlib.sha256(f"{select}\n{spec.description}".encode()).hexdigest()[:16]
    return digest if since is None else f"{digest}@{since.isoformat()}"


def window_start(spec: TableSpec, days: int, today: dt.date) -> Since:
    """The first local day a role file keeps of a per-reading table (the last `days` days); None: all."""
    if not spec.readings or days <= 0 or spec.partition_by is None:
        return None
    return today - dt.timedelta(days=days - 1)


def _kept_since(fp: str) -> tuple[str, Since]:
    digest, _, since = fp.partition("@")
    return digest, dt.date.fromisoformat(since) if since else None


def plan(
    role: Role,
    db: Path,
    lake: Lake,
    tables: dict[str, TableSpec],
    marts: tuple[Mart, ...],
    versions: dict[str, int | None],
    *,
    window_days: int = 0,
    today: dt.date | None = None,
) -> Plan:
    """The plan for one role's file, given the latest Delta version of each table; per-reading tables
    keep their last `window_days` local days up to `today` (0: everything)."""
    state = read_state(db, lake)
    known, built = state if state is not None else ({}, {})
    todo = Plan(role, db, from_live=state is not None)
    wanted: dict[str, int] = {}
    for name, spec in tables.items():
        select, version = select_sql(spec, role), versions[name]
        if select is None or version is None:
            continue
        wanted[name] = version
        since = window_start(spec, window_days, today or local_today())
        fp = _fingerprint(spec, select, since)
        digest, have_since = _kept_since(known[name][0]) if name in known else (None, None)
        visible = {c.name for c in visible_columns(spec, role)}
        if (
            name not in known
            or digest != fp.partition("@")[0]
            or (since is None) != (have_since is None)
            or (since is not None and have_since is not None and since < have_since)  # the window grew
            or (since is not None and spec.partition_by not in visible)
        ):
            todo.full.append((spec, select, fp, version, since))
            continue
        have_version = known[name][1]
        if have_version != version:
            parts = changed_partitions(lake, spec, have_version, version)
            if parts is None or have_version > version or spec.partition_by not in visible:
                todo.full.append((spec, select, fp, version, since))
                continue
            if since is not None:  # late rows of days before the window stay out
                parts = {p for p in parts if p is not None and dt.date.fromisoformat(str(p)) >= since}
            todo.partial.append((spec, select, fp, version, parts, since))
        elif since is not None and since != have_since:
            todo.trim.append((spec, fp, version, since))
    # gone from the lake or from the role's sight; a refresh of some tables leaves the others alone
    todo.drop = sorted(n for n in known if n not in wanted and (n in tables or n not in TABLES))
    copied = {s.name for s, *_ in todo.full + todo.partial}
    for mart in marts:
        source = mart.source.name
        if source in wanted and (built.get(mart.name) != wanted[source] or source in copied):
            todo.marts.append((mart, wanted[source]))
        elif source not in wanted and mart.name in built:
            todo.drop_marts.append(mart.name)
    return todo
