"""Industry topic libraries (one per library of warehouse.domain.INDUSTRY_LIBRARIES), monthly roll-up and the industry chain."""

from __future__ import annotations

import polars as pl

from warehouse.domain import INDUSTRY_LIBRARIES
from warehouse.registry.production import _OEE_COLS, _PRODUCTION_FIGURES
from warehouse.registry.spec import TableSpec, cols

_LIBRARY_COLS = (
    ("industry_code", pl.String, "GB/T 4754 division"),
    ("city_code", pl.String, "Prefecture (GB/T 2260)"),
    ("enterprises_reporting", pl.Int64, "Enterprises with energy or production data"),
    ("equipment_reporting", pl.Int64, "Equipment-days in theme.energy_daily"),
    ("energy_tce", pl.Float64, "Energy, tce (GB/T 2589)"),
    ("unit", pl.String, "Unit of output; 'mixed' when the enterprises report different units"),
    ("output_units", pl.Float64, "Units produced (null when mixed)"),
    ("output_energy_tce", pl.Float64, "Energy of the enterprises that reported output, tce"),
    ("energy_intensity", pl.Float64, "output_energy_tce / output_units (null when mixed or no output)"),
    ("observed_hours", pl.Float64, "Equipment hours with a running-state reading (15 min each)"),
    ("fault_hours", pl.Float64, "Equipment hours in state fault"),
    ("equipment_availability_pct", pl.Float64, "Time-weighted: (observed - fault) / observed x 100"),
    *_PRODUCTION_FIGURES,
    *_OEE_COLS,
    ("readings_expected", pl.Int64, "Expected readings (metrics x 96 per equipment-day)"),
    ("readings_received", pl.Int64, "Readings received"),
    ("completeness_pct", pl.Float64, "Received / expected x 100 over the cell (weighted, not a mean)"),
    ("top_consumers", pl.List(pl.String), "Up to 3 enterprises (USCC) with the most tce, largest first"),
)


def _industry_library(library: str, divisions: tuple[str, ...]) -> TableSpec:
    return TableSpec(
        name=f"industry.{library}",
        description=(
            f"Industry topic library {library} (GB/T 4754 divisions {', '.join(divisions)}): energy, "
            "intensity, equipment availability, OEE and completeness per division x city x local day."
        ),
        domain="production",
        grade=2,
        owner="industry-libraries",
        partition_by="day",
        key=("day", "industry_code", "city_code"),
        columns=cols(("day", pl.Date, "Local day"), *_LIBRARY_COLS),
        tags={"library": library},
        cluster_by=("industry_code", "city_code"),
        month_files=True,
    )


INDUSTRY_LIBRARY_TABLES: dict[str, TableSpec] = {
    lib: _industry_library(lib, divisions) for lib, divisions in INDUSTRY_LIBRARIES.items()
}


INDUSTRY_MONTHLY = TableSpec(
    name="industry.library_monthly",
    description="All industry topic libraries per month x division x city, with month-on-month and year-on-year change.",
    domain="production",
    grade=2,
    owner="industry-libraries",
    key=("library", "month", "industry_code", "city_code"),
    columns=cols(
        ("library", pl.String, "Industry topic library"),
        ("month", pl.Date, "First day of the local month"),
        ("days_reported", pl.Int64, "Local days with data in the month"),
        *_LIBRARY_COLS,
        ("energy_tce_mom_pct", pl.Float64, "Energy change vs the previous month, % (null without it)"),
        ("energy_tce_yoy_pct", pl.Float64, "Energy change vs the same month a year before, %"),
        ("energy_intensity_mom_pct", pl.Float64, "Intensity change vs the previous month, %"),
        ("energy_intensity_yoy_pct", pl.Float64, "Intensity change vs the same month a year before, %"),
        ("oee_mom_pct", pl.Float64, "OEE change vs the previous month, %"),
        ("oee_yoy_pct", pl.Float64, "OEE change vs the same month a year before, %"),
    ),
)


SUPPLIER_LINK = TableSpec(
    name="silver.supplier_link",
    description="Supplier links declared by enterprises (buyer names supplier, material, annual value).",
    domain="management",
    grade=2,
    owner="industry-libraries",
    key=("buyer_uscc", "supplier_uscc"),
    columns=cols(
        ("buyer_uscc", pl.String, "Declaring (downstream) enterprise"),
        ("supplier_uscc", pl.String, "Declared (upstream) supplier"),
        ("material", pl.String, "What is supplied"),
        ("annual_value_cny", pl.Float64, "Declared annual purchase value, CNY"),
        ("declared_on", pl.Date, "Date of the declaration"),
        ("supplier_unknown", pl.Boolean, "Supplier not in the golden record (kept, flagged)"),
        ("line_no", pl.Int64, "Line in supplier_links.csv (header = 1)"),
    ),
)


SUPPLY_CHAIN_EDGES = TableSpec(
    name="industry.supply_chain_edges",
    description="Industry-chain graph, edges: value flowing from an upstream enterprise to a downstream one, "
    "from declared supplier links and from data-product trades, with both sides' industries and cities.",
    domain="management",
    grade=2,
    owner="industry-libraries",
    key=("relation", "from_uscc", "to_uscc"),
    columns=cols(
        (
            "relation",
            pl.String,
            "declared_supply (goods, annual value) | data_trade (data products, clean trades)",
        ),
        ("from_uscc", pl.String, "Upstream: supplier or data seller"),
        ("to_uscc", pl.String, "Downstream: buyer"),
        ("from_industry", pl.String, "Upstream GB/T 4754 division ('unknown' outside the golden record)"),
        ("to_industry", pl.String, "Downstream GB/T 4754 division"),
        ("from_library", pl.String, "Upstream industry topic library ('other' when none)"),
        ("to_library", pl.String, "Downstream industry topic library"),
        ("from_city", pl.String, "Upstream prefecture"),
        ("to_city", pl.String, "Downstream prefecture"),
        (
            "value_cny",
            pl.Float64,
            "Declared annual value (declared_supply) or value of clean trades (data_trade)",
        ),
        ("transactions", pl.Int64, "Clean trades (data_trade); 1 per declaration (declared_supply)"),
        (
            "on_chain",
            pl.Boolean,
            "The upstream division is a declared upstream of the downstream one (INDUSTRY_CHAIN)",
        ),
    ),
)


SUPPLY_CHAIN_NODES = TableSpec(
    name="industry.supply_chain_nodes",
    description="Industry-chain graph, nodes: each enterprise on an edge with its industry, library, city, "
    "upstream/downstream partners and value in and out.",
    domain="management",
    grade=2,
    owner="industry-libraries",
    key=("uscc",),
    columns=cols(
        ("uscc", pl.String, "Enterprise"),
        ("name", pl.String, "Registered name (null outside the golden record)"),
        ("industry_code", pl.String, "GB/T 4754 division ('unknown' outside the golden record)"),
        ("library", pl.String, "Industry topic library ('other' when none)"),
        ("city_code", pl.String, "Prefecture"),
        ("upstream_partners", pl.Int64, "Distinct enterprises it buys from"),
        ("downstream_partners", pl.Int64, "Distinct enterprises it sells to"),
        ("inflow_value_cny", pl.Float64, "Value bought (declared annual supply + data trades)"),
        ("outflow_value_cny", pl.Float64, "Value sold"),
    ),
)


SUPPLY_CHAIN_TABLES = (SUPPLIER_LINK, SUPPLY_CHAIN_EDGES, SUPPLY_CHAIN_NODES)


INDUSTRY_TABLES = (*INDUSTRY_LIBRARY_TABLES.values(), INDUSTRY_MONTHLY)
