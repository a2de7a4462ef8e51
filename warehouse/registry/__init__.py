"""The table registry: every table of the lakehouse declared once.

Storage, the Dagster assets, the DuckDB serving layer, quality and the catalog all read these
declarations; a table that is not here does not exist.

One module per domain (spec, telemetry, enterprise, trading, production, industry, graph, sync,
catalog); this index loads them all, so `from warehouse.registry import X` finds every table.
"""

from __future__ import annotations

from warehouse.domain import DATA_DOMAINS, GRADES
from warehouse.registry.catalog import (  # noqa: F401
    ALERT,
    CATALOG_BUILD,
    CATALOG_COLUMN,
    CATALOG_DATASET,
    DAY_BUILD,
    FEED_STATUS,
    HOUSEKEEPING,
    PLAN_PROGRESS,
    QUALITY_RESULTS,
    QUALITY_SCORECARD,
    QUERY_AUDIT,
    RECONCILIATION,
)
from warehouse.registry.enterprise import (  # noqa: F401
    DCMM_ASSESSMENT,
    ENTERPRISE,
    ENTERPRISE_GAPS,
    EQUIPMENT,
    QUARANTINE_ENTERPRISE,
    THEME_DCMM,
    THEME_ENTERPRISE,
)
from warehouse.registry.graph import (  # noqa: F401
    GRAPH_EDGE,
    GRAPH_EDGE_TYPES,
    GRAPH_NODE,
    GRAPH_NODE_TYPES,
    GRAPH_TABLES,
    IDENTIFIER,
    IDENTIFIER_RESOLUTION,
    IDENTIFIER_TABLES,
)
from warehouse.registry.industry import (  # noqa: F401
    INDUSTRY_LIBRARY_TABLES,
    INDUSTRY_MONTHLY,
    INDUSTRY_TABLES,
    SUPPLIER_LINK,
    SUPPLY_CHAIN_EDGES,
    SUPPLY_CHAIN_NODES,
    SUPPLY_CHAIN_TABLES,
)
from warehouse.registry.production import (  # noqa: F401
    PRODUCTION_DAILY,
    PRODUCTION_ENTERPRISE_DAILY,
    PRODUCTION_TABLES,
    QUARANTINE_PRODUCTION,
    SILVER_PRODUCTION,
)
from warehouse.registry.spec import (  # noqa: F401
    DAILY,
    LAYERS,
    LINEAGE_COLS,
    QUALITY_COUNT_COLS,
    UTC_TS,
    Column,
    TableSpec,
    cols,
)
from warehouse.registry.sync import (  # noqa: F401
    NATIONAL_CHANNEL,
    PRIVACY_BUDGET,
    SYNC_CHANNELS,
    SYNC_LEDGER,
    SyncChannel,
)
from warehouse.registry.telemetry import (  # noqa: F401
    BRONZE_TELEMETRY,
    ENERGY_DAILY,
    ENERGY_REPORT,
    ENERGY_REPORT_AGREEMENT,
    ENERGY_REPORT_TABLES,
    EQUIPMENT_DAILY,
    LANDING_FILES,
    QUARANTINE_ENERGY_REPORT,
    QUARANTINE_TELEMETRY,
    SILVER_TELEMETRY,
)
from warehouse.registry.trading import (  # noqa: F401
    DATA_PRODUCT,
    QUARANTINE_TRADE,
    THEME_TRADING_DAILY,
    TRADE,
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        BRONZE_TELEMETRY,
        LANDING_FILES,
        ENTERPRISE,
        QUARANTINE_ENTERPRISE,
        DCMM_ASSESSMENT,
        EQUIPMENT,
        SILVER_TELEMETRY,
        QUARANTINE_TELEMETRY,
        ENERGY_DAILY,
        EQUIPMENT_DAILY,
        *ENERGY_REPORT_TABLES,
        DATA_PRODUCT,
        TRADE,
        QUARANTINE_TRADE,
        THEME_ENTERPRISE,
        THEME_TRADING_DAILY,
        THEME_DCMM,
        PLAN_PROGRESS,
        ENTERPRISE_GAPS,
        RECONCILIATION,
        DAY_BUILD,
        CATALOG_BUILD,
        QUALITY_RESULTS,
        QUALITY_SCORECARD,
        SYNC_LEDGER,
        PRIVACY_BUDGET,
        QUERY_AUDIT,
        ALERT,
        FEED_STATUS,
        HOUSEKEEPING,
        CATALOG_DATASET,
        CATALOG_COLUMN,
        *PRODUCTION_TABLES,
        *INDUSTRY_TABLES,
        *SUPPLY_CHAIN_TABLES,
        *IDENTIFIER_TABLES,
        *GRAPH_TABLES,
    )
}


def validate_registry(tables: dict[str, TableSpec] = TABLES) -> list[str]:
    """Problems in the declarations: a table without a known domain or grade, a bad partition column."""
    problems = []
    for t in tables.values():
        if t.layer not in LAYERS:
            problems.append(f"{t.name}: unknown layer {t.layer}")
        if t.domain not in DATA_DOMAINS:
            problems.append(f"{t.name}: domain {t.domain!r} not one of {sorted(DATA_DOMAINS)}")
        if t.grade not in GRADES:
            problems.append(f"{t.name}: grade {t.grade!r} not 1/2/3")
        if t.partition_by and t.partition_by not in t.schema:
            problems.append(f"{t.name}: partition column {t.partition_by} not in schema")
        problems.extend(f"{t.name}.{c.name}: grade {c.grade}" for c in t.columns if c.grade not in GRADES)
        problems.extend(f"{t.name}: cluster_by {c} not in schema" for c in t.cluster_by if c not in t.schema)
        problems.extend(
            f"{t.name}.{c.name}: personal data ({c.pii}) below grade 2"
            for c in t.columns
            if c.pii and c.grade < 2
        )
        problems.extend(
            f"{t.name}.{c.name}: personal data in clear beyond silver"
            for c in t.columns
            if c.pii and t.layer == "theme"
        )
    return problems
