"""One factory from rule declarations to Dagster blocking asset checks and catalog.quality_results rows.

Every rule with a partition expectation becomes a blocking check named after the rule; tables that
route records also get `reconciles` (landed = clean + quarantined + duplicates). A failing blocking
check stops the table's downstream assets in the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from quality.gx import SAMPLE_SIZE, ExpectationOutcome, GxOutcome, validate_partition
from quality.rules import Rule, rules_for
from warehouse.registry import QUALITY_RESULTS, RECONCILIATION, TableSpec

RECONCILES = "reconciles"


def pass_rate(failed: int, evaluated: int) -> float:
    return 1.0 - (failed / evaluated if evaluated else 0.0)


def _severity(rule: Rule) -> AssetCheckSeverity:
    return AssetCheckSeverity.ERROR if rule.severity == "error" else AssetCheckSeverity.WARN


def _rule_outcome(
    spec: TableSpec,
    rule: Rule,
    kind: str,
    passed: bool,
    evaluated: int,
    failed: int,
    metadata: dict,
    description: str | None = None,
) -> tuple[AssetCheckResult, tuple]:
    """One rule's outcome twice: the asset check the UI shows, and its catalog.quality_results row."""
    check = AssetCheckResult(
        asset_key=spec.asset_key,
        check_name=rule.id,
        passed=passed,
        severity=_severity(rule),
        description=description,
        metadata={
            "rule": rule.description,
            "evaluated": evaluated,
            "failed": failed,
            "pass_rate": pass_rate(failed, evaluated),
            **metadata,
        },
    )
    return check, (rule.id, kind, rule.severity, evaluated, failed, passed)


def _md_rows(rows: tuple[dict, ...]) -> MetadataValue:
    """A Markdown table of a partition rule's failing sample rows."""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |" for r in rows]
    return MetadataValue.md("\n".join(lines))


def docs_index_url(gx_home: Path) -> str:
    """The local Data Docs site of the GX context under LAKEHOUSE_HOME/gx."""
    return (
        Path(gx_home).resolve() / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    ).as_uri()


def gated_rules(spec: TableSpec) -> list[Rule]:
    """Rules that judge a finished partition: GX expectations and whole-partition checks."""
    return [r for r in rules_for(spec.name) if r.expectation is not None or r.partition_check is not None]


def checks_for(spec: TableSpec, *, reconciles: bool = False) -> list[AssetCheckSpec]:
    checks = [
        AssetCheckSpec(r.id, asset=spec.asset_key, blocking=r.severity == "error", description=r.description)
        for r in gated_rules(spec)
    ]
    if reconciles:
        checks.append(
            AssetCheckSpec(
                RECONCILES,
                asset=spec.asset_key,
                blocking=True,
                description="Every landed record is clean, quarantined or a counted duplicate.",
            )
        )
    return checks


PARTS = ("landed", "clean", "quarantined", "duplicates")  # landed = clean + quarantined + duplicates


@dataclass
class Reconciliation:
    landed: int
    clean: int
    quarantined: int
    duplicates: int

    @property
    def unaccounted(self) -> int:
        """Landed rows that are neither clean, quarantined nor dropped as duplicates (0 when it holds)."""
        return self.landed - self.clean - self.quarantined - self.duplicates

    @property
    def holds(self) -> bool:
        return self.unaccounted == 0

    @classmethod
    def total(cls, parts: Iterable[Reconciliation]) -> Reconciliation:
        """The sum of per-file reconciliations (a table without partitions, one row per landing file)."""
        parts = list(parts)
        return cls(*(sum(getattr(r, c) for r in parts) for c in PARTS))

    def parts(self) -> dict[str, int]:
        return {c: getattr(self, c) for c in PARTS}

    def row(self, spec: TableSpec, partition: str, run_id: str) -> pl.DataFrame:
        """The partition's row for catalog.reconciliation."""
        return pl.DataFrame(
            [
                {
                    "table_name": spec.name,
                    "partition": partition,
                    **self.parts(),
                    "run_id": run_id,
                    "built_at": dt.datetime.now(dt.UTC),
                }
            ],
            schema=RECONCILIATION.schema,
        )


@dataclass
class Evaluation:
    check_results: list[AssetCheckResult]
    results: pl.DataFrame  # rows for catalog.quality_results
    docs_url: str | None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.check_results)

    @property
    def passed_blocking(self) -> bool:
        """No error-severity check failed (warnings do not stop downstream tables)."""
        return all(r.passed or r.severity == AssetCheckSeverity.WARN for r in self.check_results)


def combined_validation(
    gx_home: Path, spec: TableSpec, partition: str, frames: Iterable[pl.DataFrame], rules: list, run_id: str
) -> GxOutcome:
    """The GX suite over a partition's pieces: evaluated and failed counts summed, all must pass."""
    total: GxOutcome | None = None
    for frame in frames:
        o = validate_partition(gx_home, spec.name, partition, frame, rules, run_id, build_docs=False)
        if total is None:
            total = o
            continue
        merged = [
            ExpectationOutcome(
                a.rule_id,
                a.success and b.success,
                a.evaluated + b.evaluated,
                a.failed + b.failed,
                (a.sample + b.sample)[:SAMPLE_SIZE],
                a.error or b.error,
            )
            for a, b in zip(total.outcomes, o.outcomes, strict=True)
        ]
        total = GxOutcome(total.success and o.success, merged, None, total.seconds + o.seconds)
    if total is None:  # no piece: the empty partition
        empty = pl.DataFrame(schema=spec.schema)
        total = validate_partition(gx_home, spec.name, partition, empty, rules, run_id, build_docs=False)
    return total


def evaluate(
    spec: TableSpec,
    df: pl.DataFrame,
    *,
    partition: str,
    run_id: str,
    gx_home: Path,
    reconciliation: Reconciliation | None = None,
    row_rule_counts: dict[str, int] | None = None,
    evaluated: int | None = None,
    context: dict | None = None,
    gx_frames: Iterable[pl.DataFrame] | None = None,
) -> Evaluation:
    """Validate one finished partition: the table's GX suite, partition rules, reconciliation, tallies.

    `gx_frames`: the partition in pieces (a sharded build's shards, one in memory at a time) for the GX
    suite, whose outcomes are summed; valid for expectations that hold per piece (row-wise ones, and
    uniqueness of a key that includes the shard key). `df` then only feeds the partition rules.
    """
    now = dt.datetime.now(dt.UTC)
    rules = {r.id: r for r in gated_rules(spec) if r.expectation is not None}
    # Data Docs are rebuilt once after the day's runs (catalog_job), not per partition: the HTML
    # rendering costs more than validating the data at demo sizes.
    if gx_frames is None:
        outcome = validate_partition(
            gx_home, spec.name, partition, df, list(rules.values()), run_id, build_docs=False
        )
    else:
        outcome = combined_validation(gx_home, spec, partition, gx_frames, list(rules.values()), run_id)
    docs_url = outcome.docs_url or docs_index_url(gx_home)
    checks, rows = [], []
    for rule in gated_rules(spec):
        if rule.partition_check is None:
            continue
        po = rule.partition_check(df, context or {})
        sample = {"sample_failing_rows": _md_rows(po.sample)} if po.sample else {}
        meta = {"result": po.message, **sample}
        check, row = _rule_outcome(
            spec, rule, "partition", po.passed, po.evaluated, po.failed, meta, po.message
        )
        checks.append(check)
        rows.append(row)
    for o in outcome.outcomes:
        meta = {"sample_failing_values": MetadataValue.json([str(v) for v in o.sample])}
        if docs_url:
            meta["data_docs"] = MetadataValue.url(docs_url)
        check, row = _rule_outcome(spec, rules[o.rule_id], "gx", o.success, o.evaluated, o.failed, meta)
        checks.append(check)
        rows.append(row)
    if reconciliation is not None:
        r = reconciliation
        checks.append(
            AssetCheckResult(
                asset_key=spec.asset_key,
                check_name=RECONCILES,
                passed=r.holds,
                metadata={**r.parts(), "unaccounted": r.unaccounted},
            )
        )
        rows.append(
            (
                RECONCILES,
                "reconciliation",
                "error",
                r.landed,
                abs(r.unaccounted),
                r.holds,
            )
        )
    for rule_id, failed in (row_rule_counts or {}).items():
        # row rules judge every landed row (default), not only the clean ones in df
        n = evaluated if evaluated is not None else reconciliation.landed if reconciliation else df.height
        rows.append((rule_id, "row", "quarantine", n, failed, True))
    results = pl.DataFrame(
        [
            {
                "table_name": spec.name,
                "partition": partition,
                "rule_id": rule_id,
                "kind": kind,
                "severity": severity,
                "evaluated": n,
                "failed": failed,
                "pass_rate": pass_rate(failed, n),
                "passed": passed,
                "run_id": run_id,
                "checked_at": now,
            }
            for rule_id, kind, severity, n, failed, passed in rows
        ],
        schema=QUALITY_RESULTS.schema,
    )
    return Evaluation(checks, results, docs_url)
