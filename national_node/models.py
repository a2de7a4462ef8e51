"""The envelope as strict, bounded pydantic models: what a manifest and a released row may hold.

Strict: no coercion (a count sent as text, a flag sent as 0, a grade sent as 2.0 are refused), finite
numbers only, canonical `YYYY-MM-DD` days only (`20260807` and `2026-W32-5` are the same day under other
names), every string and list bounded. A refusal names the field (`manifest.measures.0.grade`).
"""

from __future__ import annotations

import datetime as dt
import math
from functools import cache
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    create_model,
)

from national_node.contract import LEVELS, MEASURES, NOISE, REASONS

MAX_VERSION = 2**31 - 1
MAX_ROWS = 200_000
MAX_COUNT = 2**53  # exact in every JSON reader


def _real_day(value: str) -> str:
    dt.date.fromisoformat(value)  # ValueError -> a validation error naming the field
    return value


Day = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
    AfterValidator(_real_day),
    Field(json_schema_extra={"format": "date"}),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Text = Annotated[str, StringConstraints(max_length=256)]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
Code = Annotated[str, StringConstraints(pattern=r"^([0-9]{2,6}|[A-Z]{1,8})$")]  # GB/T code, ALL, UNKNOWN


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class MeasureDecl(_Strict):
    """A released measure as the manifest names it; its grade and group are the center's, checked."""

    name: Name
    grade: Annotated[StrictInt, Field(ge=1, le=3)]
    unit: Text = ""
    group: Name = "energy"


class GroupDecl(_Strict):
    name: Name
    flag: Name
    reason: Name
    noise: Name | None = None  # the group's noise-mark column, declared when the batch carries it


class PrivacyDecl(_Strict):
    """Differential privacy of the batch's marked entries: the loss per enterprise of a noisy entry."""

    mechanism: Literal[NOISE]  # type: ignore[valid-type]
    epsilon: Annotated[float, Field(gt=0, le=100)]


class DominanceRule(_Strict):
    n: Annotated[StrictInt, Field(ge=1, le=100)]
    k: Annotated[float, Field(gt=0, le=1)]


class Manifest(_Strict):
    batch_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,128}$")]
    node: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
    period: Day
    version: Annotated[StrictInt, Field(ge=1, le=MAX_VERSION)]
    schema_version: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    payload_format: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    rows: Annotated[StrictInt, Field(ge=0, le=MAX_ROWS)]
    payload_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    cells_suppressed: Annotated[StrictInt, Field(ge=0, le=8 * MAX_ROWS)]
    measures: Annotated[list[MeasureDecl], Field(min_length=1, max_length=len(MEASURES))]
    source_versions: Annotated[
        dict[Annotated[str, StringConstraints(max_length=128)], Count | None], Field(max_length=64)
    ]
    disclosure_groups: Annotated[list[GroupDecl], Field(min_length=1, max_length=8)] | None = None
    disclosure_threshold: Annotated[StrictInt, Field(ge=1, le=1_000_000)] | None = None
    dominance_rule: DominanceRule | None = None
    differential_privacy: PrivacyDecl | None = None
    created_at: Annotated[str, StringConstraints(max_length=64)] | None = None


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


@cache
def row_model(flags: tuple[tuple[str, ...], ...], measures: tuple[str, ...]) -> type[BaseModel]:
    """A released row of a batch declaring these (flag, reason[, noise]) columns and measures (the center's
    types)."""
    fields: dict = {
        "day": (Day, ...),
        "level": (Literal[LEVELS], ...),  # type: ignore[valid-type]
        "city_code": (Code, ...),
        "industry_code": (Code, ...),
    }
    for flag, reason, *noise in flags:
        fields[flag] = (StrictBool, ...)
        fields[reason] = (Literal[REASONS] | None, ...)  # type: ignore[valid-type]
        for mark in noise:
            fields[mark] = (Literal[NOISE] | None, ...)  # type: ignore[valid-type]
    for name in measures:
        kind = Count if MEASURES[name].integer else Annotated[float, AfterValidator(_finite)]
        fields[name] = (kind | None, ...)
    return create_model("ReleasedRow", __config__=_Strict.model_config, **fields)


def first_error(exc: ValidationError, prefix: str) -> tuple[str, str]:
    """(field path, message) of a validation error's first problem, e.g. ("manifest.version", "...")."""
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
    return where, f"{where}: {err['msg']}"
