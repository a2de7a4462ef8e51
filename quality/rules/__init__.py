"""Quality rules, declared once.

A rule has an id (which is also the quarantine reason code), the table it guards, a severity and a
description. A row rule carries a polars expression that is true for rows that pass: failing rows go
to the table's quarantine with the rule id as reason. Where the rule also says something checkable
about the finished partition, it carries an `expectation` (Great Expectations type and kwargs) that the
table's GX suite validates on every materialized partition, so no rule is written twice.

One module per domain (spec, telemetry, enterprise, trading, production, energy_report, graph);
this index loads them all, so `from quality.rules import X` finds every rule.
"""

from __future__ import annotations

from quality.rules.energy_report import (  # noqa: F401
    ENERGY_REPORT_FILE_RULE,
    ENERGY_REPORT_ROW_RULES,
    ENERGY_REPORT_RULES,
    daily_sums_agree_with_monthly,
)
from quality.rules.enterprise import (  # noqa: F401
    FILE_RULES,
    MASTER_RULES,
    REGISTER_ROW_RULES,
    ROSTER_ROW_RULES,
)
from quality.rules.graph import (  # noqa: F401
    GRAPH_RULES,
    IDENTIFIER_RULES,
    edge_endpoints_are_nodes,
    edge_validity_ordered,
    handles_kept,
)
from quality.rules.production import (  # noqa: F401
    INDUSTRY_RULES,
    PRODUCTION_ROW_RULES,
    PRODUCTION_TABLE_RULES,
)
from quality.rules.spec import (  # noqa: F401
    Expectation,
    PartitionOutcome,
    Rule,
    Severity,
    first_failed_rule,
    passes_all,
)
from quality.rules.telemetry import (  # noqa: F401
    CANONICAL_UNITS,
    FRESHNESS_DAYS,
    PARTITION_RULES,
    QUARANTINE_SHARE_LIMIT,
    ROW_COUNT_BAND,
    TELEMETRY_ROW_RULES,
    TREND_RULES,
    day_completeness,
    enterprises_known,
    files_readable,
    landing_fresh,
    no_schema_drift,
    quarantine_share_within_limit,
    row_count_in_band,
)
from quality.rules.trading import (  # noqa: F401
    TRADE_ROW_RULES,
    TRADE_TABLE_RULES,
)

ALL_RULES: tuple[Rule, ...] = (
    TELEMETRY_ROW_RULES
    + PARTITION_RULES
    + TREND_RULES
    + MASTER_RULES
    + REGISTER_ROW_RULES
    + ROSTER_ROW_RULES
    + FILE_RULES
    + TRADE_ROW_RULES
    + TRADE_TABLE_RULES
    + PRODUCTION_ROW_RULES
    + PRODUCTION_TABLE_RULES
    + INDUSTRY_RULES
    + ENERGY_REPORT_RULES
    + IDENTIFIER_RULES
    + GRAPH_RULES
)


def rules_for(table: str) -> list[Rule]:
    return [r for r in ALL_RULES if r.table == table]
