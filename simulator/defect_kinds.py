"""What a telemetry defect is: the kinds, the quarantine reason each must get, the texts and units they
are written with, and the shape of a defect plan.

The landing writers (simulator.files, simulator.feeds, simulator.energy_reports) read a plan through these
names; where the defects go is decided in simulator.defects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.telemetry import METRIC_NAMES
from warehouse.domain import METRICS, UNIT_CONVERSIONS

KINDS: tuple[str, ...] = (
    "clean",
    "nan_value",
    "bad_value",
    "bad_timestamp",
    "malformed_line",
    "unknown_unit",
    "unknown_equipment",
    "unit_variant",
    "out_of_range",
    "stuck_sensor",
    "meter_reset",
    "meter_rollover",
    "exact_duplicate",
)
K = {name: np.int8(i) for i, name in enumerate(KINDS)}
# Record defects the pipeline quarantines, with the quarantine reason (rule id) it must use.
QUARANTINE_REASON: dict[str, str] = {
    "nan_value": "value_missing",
    "bad_value": "bad_value",
    "bad_timestamp": "bad_timestamp",
    "malformed_line": "malformed_record",
    "unknown_unit": "unknown_unit",
    "unknown_equipment": "unknown_equipment",
}
LATE_BEYOND_REASON = "late_beyond_watermark"
REASONS: tuple[str, ...] = (*QUARANTINE_REASON.values(), LATE_BEYOND_REASON)
QUARANTINE_KINDS = np.array([K[k] for k in QUARANTINE_REASON], dtype=np.int8)
NO_TS_KINDS = np.array([K["bad_timestamp"], K["malformed_line"]], dtype=np.int8)  # reading day = landing date

BAD_VALUES: tuple[str, ...] = ("12,5", "abc", "--", "#VALUE!", "1.2.3", "n/a", "ERR", "0x1F")
UNKNOWN_UNITS: tuple[str, ...] = ("furlong", "kcal", "psi", "degF", "BTU", "gal/min")
UNIT_NAMES: tuple[str, ...] = tuple(UNIT_CONVERSIONS)
assert not set(UNKNOWN_UNITS) & set(UNIT_CONVERSIONS)


def _variants() -> dict[int, list[tuple[int, float, float, int]]]:
    """Per metric index: (unit index, multiplier, offset, decimals) of each non-canonical unit variant."""
    out: dict[int, list[tuple[int, float, float, int]]] = {}
    for i, m in enumerate(METRIC_NAMES):
        unit = METRICS[m].unit
        out[i] = [
            (UNIT_NAMES.index(u), mult, off, max(0, 3 + round(np.log10(mult))))
            for u, (canonical, mult, off) in UNIT_CONVERSIONS.items()
            if canonical == unit and u not in (unit, "")
        ]
    return out


VARIANTS = _variants()


def variant_values(
    values: np.ndarray, metric: np.ndarray, choice: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The value written in a variant unit and that unit's index in UNIT_NAMES (-1 where none)."""
    x = np.full(values.shape, np.nan)
    unit = np.full(values.shape, -1, dtype=np.int16)
    for m, variants in VARIANTS.items():
        if not variants:
            continue
        rows = metric == m
        pick = choice % len(variants)
        for j, (u, mult, off, dec) in enumerate(variants):
            sel = rows & (pick == j)
            x[sel] = np.round((values[sel] - off) / mult, dec)
            unit[sel] = u
    return x, unit


@dataclass(frozen=True)
class Buffer:
    """A gateway re-sending old readings (10-12 days before start) inside its file for day `file_day`."""

    gateway: int
    file_day: int
    old_day: int  # negative day index relative to start
    first_slot: int
    n_slots: int


@dataclass
class DefectPlan:
    kind: np.ndarray  # int8 (S, T), index into KINDS
    choice: np.ndarray  # uint16 (S, T): which bad string, unit, truncation ... for the cell's defect
    gap: np.ndarray  # bool (S, T): reading never sent
    late: np.ndarray  # int8 (S, T): sent in the file of day + late (0 = on time)
    stuck_runs: int = 0
    buffers: list[Buffer] = field(default_factory=list)
    flags: dict[str, int] = field(default_factory=dict)  # readings the pipeline must flag bad / uncertain
