"""What a rule is: its id (also the quarantine reason), table, severity, description, and the row, GX and partition checks it carries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

Severity = Literal["error", "warn"]


@dataclass(frozen=True)
class Expectation:
    """A Great Expectations expectation by class name and keyword arguments."""

    type: str
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionOutcome:
    evaluated: int
    failed: int
    passed: bool
    message: str
    sample: tuple[dict, ...] = ()  # a few failing rows, shown with the check result


@dataclass(frozen=True)
class Rule:
    id: str
    table: str
    description: str
    severity: Severity = "error"
    row_check: Callable[[], pl.Expr] | None = None  # true where the row passes
    expectation: Expectation | None = None  # GX expectation on the finished partition
    # A whole-partition rule that GX cannot express: (partition frame, context frames) -> outcome.
    partition_check: Callable[[pl.DataFrame, dict], PartitionOutcome] | None = None


def passes_all(rules: tuple[Rule, ...]) -> pl.Expr:
    """True where a row passes every row rule: cheap to evaluate on every row, so the reason
    (`first_failed_rule`, a string per row) is only computed on the rows that fail."""
    return pl.all_horizontal([rule.row_check().fill_null(False) for rule in rules if rule.row_check])


def first_failed_rule(rules: tuple[Rule, ...]) -> pl.Expr:
    """Id of the first row rule a row fails, null when it passes all: the quarantine reason."""
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for rule in reversed(rules):
        assert rule.row_check is not None, rule.id
        expr = pl.when(~rule.row_check().fill_null(False)).then(pl.lit(rule.id)).otherwise(expr)
    return expr
