"""The release policy by grade: what of a day's aggregates may leave the province.

Grade 3 never leaves (those measures are not even computed, see measures.released). Grade 2 leaves only
in cells covering at least DISCLOSURE_THRESHOLD enterprises (primary suppression), not dominated by
their largest respondents (the (n, k) dominance rule, see measures.DOMINANCE_K) and only if no
suppressed cell can be derived from the totals sent alongside (complementary suppression). Each
disclosure group (energy reporters, trading sellers) is protected on its own. Grade 1 may
leave as is. China's statistics law forbids publishing an aggregate from which a single respondent can be
inferred, which includes subtracting the visible cells from a row or column total.

The table is city x industry with its margins: a row per city plus the industry-totals row, a column per
industry plus the city-totals column, the province total where they meet. Every row and column is an
additive relation (cells sum to the margin). Complementary suppression:

1. the rule asked for: in every row/column holding exactly one suppressed entry, suppress its
   next-smallest entry (fewest enterprises, then least energy) too; repeat until stable;
2. what that rule misses: a suppressed entry can still be derived by combining several rows and
   columns. Read the table as a bipartite graph (rows and columns are nodes, entries are edges); a
   suppressed entry is derivable from the visible ones exactly when it is a bridge of the graph of
   suppressed entries (it lies on no cycle). Each such bridge is closed into a cycle along the cheapest
   path of extra entries, then step 1 runs again, until no row/column has one suppressed entry and no
   bridge is left. Suppressing everything is always a solution, so this ends.

Across versions (restatements): the node keeps every version of a day it received, so a reader also
subtracts one version from another. For each version the node holds, and for every grade-2 measure:

3. an entry withheld in a version the node holds stays withheld (its old value would otherwise meet the
   new relations and undo the protection of the entries it shielded);
4. the entries whose value changed form, over every row and column, a balanced set (the change of the
   whole table adds up like the table itself). A reader knows which visible entries changed and, at
   worst, which withheld ones did not. A withheld entry's change is derivable exactly when it is a
   bridge of the graph of *withheld changed* entries. Each such bridge is closed into a cycle along
   changed entries (withholding the restatement of the totals that would show it, reason
   `restatement`), then steps 1-2 run again. The changed entries themselves are bridgeless, so this
   ends; if a withheld entry of an earlier version is missing now, the restatement is held (ReleaseHeld).

On the wire a reason is one the center's contract knows (primary, dominance, secondary): an entry
withheld across versions protects another entry's change, a complementary suppression, and goes out as
`secondary`. The province keeps the finer reason (`Release.restated`, counted in the ledger's message and
the sync's `cells_withheld_for_restatement`).

Differential privacy (optional per channel, assets/sync/noise.py) comes after this policy: it changes
no flag and no reason, it only puts a noisy estimate into entries withheld here.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from assets.sync.measures import DISCLOSURE_THRESHOLD, DOMINANCE_K, MEASURES, Measure, groups, released

Cell = tuple[str, str]  # (city_code, industry_code); ALL in either place is a margin
Node = tuple[str, str]  # ("row", city_code) or ("col", industry_code)


def lines(cells: Iterable[Cell]) -> dict[Node, list[Cell]]:
    """Every row and column of the table with its margin: the additive relations a reader can use."""
    out: dict[Node, list[Cell]] = defaultdict(list)
    for cell in cells:
        out[("row", cell[0])].append(cell)
        out[("col", cell[1])].append(cell)
    return dict(out)


def bridges(suppressed: Iterable[Cell]) -> set[Cell]:
    """Suppressed entries on no cycle of the suppressed-entry graph: exactly those derivable from the rest."""
    adj: dict[Node, list[tuple[Node, Cell]]] = defaultdict(list)
    for cell in suppressed:
        adj[("row", cell[0])].append((("col", cell[1]), cell))
        adj[("col", cell[1])].append((("row", cell[0]), cell))
    disc: dict[Node, int] = {}
    low: dict[Node, int] = {}
    found: set[Cell] = set()

    def visit(node: Node, via: Cell | None) -> None:  # Tarjan's bridge-finding depth-first search
        disc[node] = low[node] = len(disc)
        for nxt, edge in adj[node]:
            if edge == via:
                continue
            if nxt in disc:
                low[node] = min(low[node], disc[nxt])
            else:
                visit(nxt, edge)
                low[node] = min(low[node], low[nxt])
                if low[nxt] > disc[node]:
                    found.add(edge)

    for node in sorted(adj):
        if node not in disc:
            visit(node, None)
    return found


def _cheapest_cycle(bridge: Cell, cells: Mapping[Cell, tuple], suppressed: set[Cell]) -> list[Cell]:
    """Unsuppressed entries to add so that `bridge` lies on a cycle: the cheapest path between its ends."""
    start, goal = ("row", bridge[0]), ("col", bridge[1])
    adj: dict[Node, list[tuple[Node, Cell]]] = defaultdict(list)
    for cell in cells:
        if cell != bridge:
            adj[("row", cell[0])].append((("col", cell[1]), cell))
            adj[("col", cell[1])].append((("row", cell[0]), cell))
    best: dict[Node, tuple] = {start: (0, 0)}
    came: dict[Node, tuple[Node, Cell]] = {}
    heap: list[tuple[tuple, Node]] = [((0, 0), start)]
    while heap:
        cost, node = heapq.heappop(heap)
        if node == goal:
            break
        if cost > best[node]:
            continue
        for nxt, cell in sorted(adj[node]):
            step = (0, 0) if cell in suppressed else (1, cells[cell][0])
            new = (cost[0] + step[0], cost[1] + step[1])
            if nxt not in best or new < best[nxt]:
                best[nxt] = new
                came[nxt] = (node, cell)
                heapq.heappush(heap, (new, nxt))
    if goal not in came:
        return []
    path, node = [], goal
    while node != start:
        node, cell = came[node]
        path.append(cell)
    return [c for c in path if c not in suppressed]


def complementary(cells: Mapping[Cell, tuple], primary: set[Cell]) -> set[Cell]:
    """Secondary suppressions protecting `primary`; `cells` maps each entry to its sort key (smallest first)."""
    suppressed = set(primary)
    relations = lines(cells)
    while True:
        changed = False
        for key in sorted(relations):
            members = relations[key]
            if sum(c in suppressed for c in members) == 1:
                visible = [c for c in members if c not in suppressed]
                if visible:
                    suppressed.add(min(visible, key=lambda c: (cells[c], c)))
                    changed = True
        if changed:
            continue
        exposed = sorted(bridges(suppressed), key=lambda c: (cells[c], c))
        if not exposed:
            return suppressed - set(primary)
        extra = _cheapest_cycle(exposed[0], cells, suppressed)
        if not extra:  # no other path between its row and column: nothing more can protect it
            raise ValueError(f"cell {exposed[0]} cannot be protected: its row and column meet nowhere else")
        suppressed.update(extra)


# The reasons the center's contract knows (national_node/contract.py REASONS); the rest map onto them.
WIRE_REASON = {"restatement": "secondary"}


class ReleaseHeld(Exception):
    """The new figures cannot be released without exposing an entry of a version the node holds."""


@dataclass(frozen=True)
class Held:
    """A version the node holds, as the province computed it: per disclosure group, the withheld entries,
    and per grade-2 measure every entry's value (kept in the province: catalog.sync_release)."""

    version: int
    hidden: dict[str, set[Cell]]
    values: dict[str, dict[Cell, float | None]]  # measure -> entry -> value
    # differential privacy: measure -> withheld entry -> (clamped sum the noise was added to, noisy value)
    noisy: dict[str, dict[Cell, tuple[float, float]]] = field(default_factory=dict)

    def record(self) -> dict:
        """JSON-able form."""
        out = {
            "version": self.version,
            "hidden": {g: sorted(map(list, cells)) for g, cells in sorted(self.hidden.items())},
            "values": {
                m: sorted([*c, v] for c, v in vals.items()) for m, vals in sorted(self.values.items())
            },
        }
        if self.noisy:
            out["noisy"] = {
                m: sorted([*c, *iv] for c, iv in v.items()) for m, v in sorted(self.noisy.items())
            }
        return out

    @classmethod
    def from_record(cls, record: Mapping) -> Held:
        return cls(
            int(record["version"]),
            {g: {(c, i) for c, i in cells} for g, cells in record["hidden"].items()},
            {m: {(c, i): v for c, i, v in vals} for m, vals in record["values"].items()},
            {m: {(c, i): (x, y) for c, i, x, y in vals} for m, vals in record.get("noisy", {}).items()},
        )


def changed(a: float | None, b: float | None) -> bool:
    """Two versions of an entry differ (beyond the float noise of a re-aggregation)."""
    if a is None or b is None:
        return (a is None) != (b is None)
    return abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b))


def exposed_change(
    cells: Mapping[Cell, tuple],
    hidden: set[Cell],
    values: Mapping[str, Mapping[Cell, float | None]],
    held: Sequence[Held],
) -> list[Cell]:
    """Entries to withhold too so that no withheld entry's change against a held version is derivable
    (step 4 of the module docstring); [] when none is. Raises ReleaseHeld when no cycle can protect it."""
    for h in held:
        for measure, now in values.items():
            before = h.values.get(measure, {})
            moved = {c for c in set(now) | set(before) if changed(now.get(c, 0.0), before.get(c, 0.0))}
            exposed = sorted(bridges(moved & hidden), key=lambda c: (cells.get(c, (0, 0.0)), c))
            if not exposed:
                continue
            extra = _cheapest_cycle(exposed[0], {c: cells[c] for c in moved if c in cells}, hidden)
            if not extra:
                raise ReleaseHeld(
                    f"the change of withheld entry {exposed[0]} ({measure}) since version {h.version} "
                    "would be derivable and no changed entries close it into a cycle"
                )
            return extra
    return []


@dataclass(frozen=True)
class Release:
    frame: pl.DataFrame  # exactly what leaves the province
    primary: int  # entries withheld for too few respondents, over all disclosure groups
    dominance: int  # entries withheld because their largest respondents dominate the total
    secondary: int  # entries withheld so that the others cannot be derived from the totals
    restatement: int = 0  # entries withheld because of what the node holds from earlier versions
    held: Held = field(default_factory=lambda: Held(0, {}, {}))  # this release, as a later one checks it
    restated: dict[str, set[Cell]] = field(default_factory=dict)  # per group: withheld for `restatement`

    @property
    def cells_suppressed(self) -> int:
        return self.primary + self.dominance + self.secondary + self.restatement


def sensitive(
    respondents: int,
    top_share: float | None,
    threshold: int = DISCLOSURE_THRESHOLD,
    dominance: float = DOMINANCE_K,
) -> str | None:
    """Why an entry may not be released as is; None when it may.

    An entry without respondents (no enterprise reported, no seller traded) betrays nobody: its 0 stays.
    """
    if respondents == 0:
        return None
    if respondents < threshold:
        return "primary"
    if top_share is not None and top_share > dominance:
        return "dominance"
    return None


def release(
    aggregates: pl.DataFrame,
    *,
    measures: tuple[Measure, ...] = MEASURES,
    threshold: int = DISCLOSURE_THRESHOLD,
    dominance: float = DOMINANCE_K,
    held: Sequence[Held] = (),
    version: int = 0,
) -> Release:
    """Apply the release policy to one day's cells and margins (the output of aggregate_day).

    Each disclosure group is protected on its own: its grade-2 values are withheld where its flag is set.
    `held` are the versions of the day the node already holds: no withheld entry of theirs, nor its change,
    may be derived by comparing them with this release (steps 3-4 above).
    """
    sendable = released(measures)
    keys = list(zip(aggregates["city_code"], aggregates["industry_code"], strict=True))
    present = set(keys)
    frame = aggregates
    counts = {"primary": 0, "dominance": 0, "secondary": 0, "restatement": 0}
    kept_hidden: dict[str, set[Cell]] = {}
    kept_values: dict[str, dict[Cell, float | None]] = {}
    restated: dict[str, set[Cell]] = {}
    for group in groups(measures):
        respondents = aggregates[group.respondents].to_list()
        shares = (
            aggregates[group.top_share].to_list()
            if group.top_share in aggregates.columns
            else [None] * len(keys)
        )
        size = (
            aggregates[group.magnitude].to_list()
            if group.magnitude in aggregates.columns
            else [0.0] * len(keys)
        )
        cells = {k: (int(n), abs(float(v or 0.0))) for k, n, v in zip(keys, respondents, size, strict=True)}
        why = {
            k: w
            for k, n, t in zip(keys, respondents, shares, strict=True)
            if (w := sensitive(int(n), t, threshold, dominance))
        }
        grade2 = [m.name for m in sendable if m.grade == 2 and m.group is group]
        values = {  # ratios are not bound by the totals: their change cannot be solved for
            m.name: dict(zip(keys, aggregates[m.name].to_list(), strict=True))
            for m in sendable
            if m.grade == 2 and m.group is group and m.additive
        }
        before = {c for h in held for c in h.hidden.get(group.name, set())}
        if missing := sorted(before - present):
            raise ReleaseHeld(f"{group.name}: entries withheld in an earlier version are gone now: {missing}")
        secondary = complementary(cells, set(why))
        while held:  # entries the plain policy would withhold anyway keep their own reason
            hidden = set(why) | secondary
            extra = sorted(before - hidden) or exposed_change(cells, hidden, values, held)
            if not extra:
                break
            why |= dict.fromkeys(extra, "restatement")
            secondary = complementary(cells, set(why))
        if bridges(set(why) | secondary):  # the guarantee above, checked on every release
            raise AssertionError(f"release policy ({group.name}): a suppressed cell would still be derivable")
        why |= dict.fromkeys(secondary, "secondary")
        for w in why.values():
            counts[w] += 1
        kept_hidden[group.name] = set(why)
        kept_values |= values
        restated[group.name] = {c for c, w in why.items() if w == "restatement"}
        wire = {c: WIRE_REASON.get(w, w) for c, w in why.items()}
        frame = frame.with_columns(
            pl.Series(group.flag, [k in why for k in keys], dtype=pl.Boolean),
            pl.Series(group.reason, [wire.get(k) for k in keys], dtype=pl.String),
        ).with_columns([pl.when(pl.col(group.flag)).then(None).otherwise(pl.col(n)).alias(n) for n in grade2])
    flags = [c for g in groups(measures) for c in (g.flag, g.reason)]
    frame = frame.select("day", "level", "city_code", "industry_code", *flags, *[m.name for m in sendable])
    return Release(
        frame,
        counts["primary"],
        counts["dominance"],
        counts["secondary"],
        counts["restatement"],
        Held(version, kept_hidden, kept_values),
        restated,
    )
