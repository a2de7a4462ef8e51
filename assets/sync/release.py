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

Optional differential-privacy noise is not applied: OpenDP is not installed here.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Release:
    frame: pl.DataFrame  # exactly what leaves the province
    primary: int  # entries withheld for too few respondents, over all disclosure groups
    dominance: int  # entries withheld because their largest respondents dominate the total
    secondary: int  # entries withheld so that the others cannot be derived from the totals

    @property
    def cells_suppressed(self) -> int:
        return self.primary + self.dominance + self.secondary


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
) -> Release:
    """Apply the release policy to one day's cells and margins (the output of aggregate_day).

    Each disclosure group is protected on its own: its grade-2 values are withheld where its flag is set.
    """
    sendable = released(measures)
    keys = list(zip(aggregates["city_code"], aggregates["industry_code"], strict=True))
    frame = aggregates
    counts = {"primary": 0, "dominance": 0, "secondary": 0}
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
        secondary = complementary(cells, set(why))
        if bridges(set(why) | secondary):  # the guarantee above, checked on every release
            raise AssertionError(f"release policy ({group.name}): a suppressed cell would still be derivable")
        why |= dict.fromkeys(secondary, "secondary")
        for w in why.values():
            counts[w] += 1
        grade2 = [m.name for m in sendable if m.grade == 2 and m.group is group]
        frame = frame.with_columns(
            pl.Series(group.flag, [k in why for k in keys], dtype=pl.Boolean),
            pl.Series(group.reason, [why.get(k) for k in keys], dtype=pl.String),
        ).with_columns([pl.when(pl.col(group.flag)).then(None).otherwise(pl.col(n)).alias(n) for n in grade2])
    flags = [c for g in groups(measures) for c in (g.flag, g.reason)]
    frame = frame.select("day", "level", "city_code", "industry_code", *flags, *[m.name for m in sendable])
    return Release(frame, counts["primary"], counts["dominance"], counts["secondary"])
