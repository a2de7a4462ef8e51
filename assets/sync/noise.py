"""Differential privacy for the cells the release policy withholds (optional per channel, off by default).

Where suppression leaves a city x industry cell empty, a channel with a declared epsilon
(LAKEHOUSE_SYNC_DP_EPSILON) gets a noisy estimate of the cell's grade-2 sums instead: OpenDP clamps each
enterprise's contribution to the measure's declared bound (`Measure.dp_bound`), sums, and adds Laplace
noise of scale bound / (epsilon / k) for each of the cell's k noisy measures. Adding or removing one
enterprise moves each clamped sum by at most the bound (OpenDP derives it, float rounding included, and
certifies each measure's loss `map(1) <= epsilon / k`), so one enterprise loses at most epsilon per release
of a day (sequential composition over the k measures). Nothing else changes: the flag and the reason stay
(the exact value is still withheld, so complementary suppression still protects it), counts and ratios
stay null, and the wire marks the entry `noise = "laplace"`. Only cells are noised; a withheld margin stays
plainly withheld. Noisy values below 0 are set to 0 (post-processing: no privacy cost).

The budget (`catalog.privacy_budget`): every fresh draw spends epsilon for each enterprise of the cell,
recorded before the figures leave the province; a draw that would take an enterprise's total for the
period (over every channel, node and version) above LAKEHOUSE_SYNC_DP_BUDGET is refused, and the cell goes
out withheld without noise. Restatements: a cell whose clamped sums did not change since a version the
node holds keeps that version's noisy values (no new information, nothing spent, and an unchanged day
hashes the same, so it is not sent again); a changed cell is drawn again and spends again.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache

import duckdb
import opendp.prelude as dp
import polars as pl

from assets.sync.aggregate import base_sql
from assets.sync.batch import wire_schema
from assets.sync.measures import ENERGY, MEASURES, Measure, noisy
from assets.sync.release import Cell, Held, Release, changed
from warehouse.registry import ENERGY_DAILY, EQUIPMENT_DAILY, PRIVACY_BUDGET
from warehouse.settings import SyncPrivacy
from warehouse.storage import Lake

dp.enable_features("contrib")  # OpenDP 0.16: the float Laplace mechanism and clamp live in `contrib`

MECHANISM = "laplace"
GROUP = ENERGY  # respondents are enterprises (uscc); trading declares no bound yet
_SLACK = 1e-6  # scale margin over bound/epsilon: OpenDP's float-sum sensitivity is a hair above the bound


def scale(bound: float, epsilon: float) -> float:
    """Laplace scale giving loss <= epsilon for a clamped sum with this per-enterprise bound."""
    return bound / epsilon * (1 + _SLACK)


def noise_std(bound: float, epsilon: float) -> float:
    """Standard deviation of the noise: sqrt(2) x scale for Laplace."""
    return math.sqrt(2) * scale(bound, epsilon)


@cache
def mechanism(bound: float, epsilon: float) -> dp.Measurement:
    """Per-enterprise contributions -> clamp to [0, bound] -> sum -> + Laplace noise (OpenDP)."""
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
    meas = (
        space >> dp.t.then_clamp((0.0, bound)) >> dp.t.then_sum() >> dp.m.then_laplace(scale(bound, epsilon))
    )
    loss = meas.map(1)  # adding or removing one enterprise
    if loss > epsilon:
        raise AssertionError(f"noise for bound {bound} costs {loss} > epsilon {epsilon}")
    return meas


def contributions(
    con: duckdb.DuckDBPyConnection, day: dt.date, *, measures: tuple[Measure, ...] = MEASURES
) -> pl.DataFrame:
    """Each enterprise's part of each noisy sum, per cell (the mechanism's input; never leaves)."""
    sums = noisy(GROUP, measures)
    if not sums:
        return pl.DataFrame(schema={"uscc": pl.String, "city_code": pl.String, "industry_code": pl.String})
    cols = ", ".join(f"CAST({m.sql} AS DOUBLE) AS {m.name}" for m in sums)
    sql = f"""
    SELECT uscc, coalesce(city, 'UNKNOWN') AS city_code, coalesce(industry, 'UNKNOWN') AS industry_code, {cols}
    FROM ({base_sql(ENERGY_DAILY.name, EQUIPMENT_DAILY.name)}) GROUP BY ALL ORDER BY ALL
    """
    return con.execute(sql, {"day": day}).pl()


@dataclass(frozen=True)
class Draw:
    """A fresh noise draw for one cell: what each of its enterprises spends."""

    cell: Cell
    usccs: tuple[str, ...]
    measures: tuple[str, ...]
    epsilon: float


@dataclass(frozen=True)
class Noised:
    release: Release  # the frame with marks and noisy values; `held.noisy` for later versions
    draws: tuple[Draw, ...]  # fresh draws, to record in catalog.privacy_budget before sending
    reused: int  # cells whose noisy values a held version already carries
    refused: tuple[Cell, ...]  # withheld cells left without noise: an enterprise's budget is spent

    @property
    def noisy_cells(self) -> int:
        return len(self.draws) + self.reused


def _previous(
    held: Sequence[Held], cell: Cell, names: Sequence[str]
) -> dict[str, tuple[float, float]] | None:
    """The noisy values of `cell` in the newest held version that noised it."""
    for h in sorted(held, key=lambda h: h.version, reverse=True):
        if all(cell in h.noisy.get(n, {}) for n in names):
            return {n: h.noisy[n][cell] for n in names}
    return None


def add_noise(
    rel: Release,
    contrib: pl.DataFrame,
    privacy: SyncPrivacy,
    *,
    spent: Mapping[str, float],
    held: Sequence[Held] = (),
    measures: tuple[Measure, ...] = MEASURES,
) -> Noised:
    """Noisy estimates in the withheld cells of a release, within each enterprise's budget (`spent`:
    what each enterprise already spent on the period)."""
    sums = noisy(GROUP, measures)
    frame = rel.frame
    names = [m.name for m in sums]
    keys = list(zip(frame["city_code"], frame["industry_code"], strict=True))
    withheld = sorted(
        k
        for k, level, flag in zip(keys, frame["level"], frame[GROUP.flag], strict=True)
        if flag and level == "cell"
    )
    by_cell = {
        (c, i): part
        for (c, i), part in contrib.partition_by("city_code", "industry_code", as_dict=True).items()
    }
    total = dict(spent)
    draws: list[Draw] = []
    refused: list[Cell] = []
    reused = 0
    values: dict[Cell, dict[str, float]] = {}
    record: dict[str, dict[Cell, tuple[float, float]]] = {n: {} for n in names}
    eps = privacy.epsilon / max(len(sums), 1)  # per measure: k measures compose to epsilon per enterprise
    for cell in withheld if sums else []:
        part = by_cell.get(cell)
        if part is None or part.is_empty():
            continue
        inputs = {m.name: sum(min(max(x or 0.0, 0.0), m.dp_bound) for x in part[m.name]) for m in sums}
        before = _previous(held, cell, names)
        if before is not None and not any(changed(before[n][0], inputs[n]) for n in names):
            values[cell] = {n: before[n][1] for n in names}
            reused += 1
        else:
            usccs = tuple(sorted(set(part["uscc"])))
            if any(total.get(u, 0.0) + privacy.epsilon > privacy.budget * (1 + 1e-9) for u in usccs):
                refused.append(cell)
                continue
            values[cell] = {
                m.name: round(
                    max(0.0, mechanism(m.dp_bound, eps)([float(x or 0.0) for x in part[m.name]])), 6
                )
                for m in sums
            }
            for u in usccs:
                total[u] = total.get(u, 0.0) + privacy.epsilon
            draws.append(Draw(cell, usccs, tuple(names), privacy.epsilon))
        for n in names:
            record[n][cell] = (inputs[n], values[cell][n])
    marks = [MECHANISM if k in values else None for k in keys]
    frame = frame.with_columns(
        pl.Series(GROUP.noise, marks, dtype=pl.String),
        *(
            pl.Series(n, [values[k][n] if k in values else v for k, v in zip(keys, frame[n], strict=True)])
            for n in names
        ),
    ).select(wire_schema(measures, (GROUP.name,)).names)
    held_now = replace(rel.held, noisy={n: r for n, r in record.items() if r})
    return Noised(replace(rel, frame=frame, held=held_now), tuple(draws), reused, tuple(refused))


def spent(lake: Lake, period: str) -> dict[str, float]:
    """Epsilon each enterprise has spent on the period, over every channel, node and version."""
    rows = lake.read(PRIVACY_BUDGET, columns=["period", "uscc", "epsilon"]).filter(pl.col("period") == period)
    return dict(rows.group_by("uscc").agg(pl.sum("epsilon")).iter_rows())


def record_draws(
    lake: Lake,
    draws: Sequence[Draw],
    *,
    period: str,
    channel: str,
    node: str,
    version: int,
    budget: float,
    run_id: str,
) -> int:
    """Spend the draws' budget (before the noisy figures leave): one row per enterprise and draw."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "draw_id": draw_id,
            "uscc": u,
            "period": period,
            "channel": channel,
            "node": node,
            "version": version,
            "city_code": d.cell[0],
            "industry_code": d.cell[1],
            "measures": ",".join(d.measures),
            "mechanism": MECHANISM,
            "epsilon": d.epsilon,
            "budget": budget,
            "run_id": run_id,
            "spent_at": now,
        }
        for d in draws
        for draw_id in [uuid.uuid4().hex]
        for u in d.usccs
    ]
    if rows:
        lake.append(PRIVACY_BUDGET, pl.DataFrame(rows, schema=PRIVACY_BUDGET.schema), run_id=run_id)
    return len(rows)
