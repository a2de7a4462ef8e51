"""The landing contracts: what each source delivers under LAKEHOUSE_HOME/landing, file by file.

The pipeline reads these names, the simulator and the collectors write them, the bench generates them:
nothing else declares them. The live (MQTT) contract is warehouse.uns; the register and roster workbooks'
headers are assets.enterprise.sources.REGISTER_COLUMNS and ROSTER_COLUMNS (Chinese headers to names).
"""

from __future__ import annotations

# landing/telemetry/<day>/*.csv|jsonl|parquet: one reading per row, every field as text.
TELEMETRY_FIELDS = ("uscc", "equipment_id", "metric", "ts", "value", "unit")
TELEMETRY_QUALITY_FIELD = "quality"  # optional: good | uncertain | bad (collectors: OPC UA status), else null
TELEMETRY_OPTIONAL_FIELDS = (TELEMETRY_QUALITY_FIELD,)
TELEMETRY_SUFFIXES = (".csv", ".jsonl", ".parquet")
# Names a gateway writes while a file is still being written; never ingested (see README, landing contract).
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".inprogress", ".crdownload", "~")

# landing/production/*.csv: one record per production line and local day.
PRODUCTION_FIELDS = (
    "line_id",
    "uscc",
    "day",
    "planned_minutes",
    "run_minutes",
    "ideal_cycle_s",
    "total_units",
    "good_units",
    "product",
    "unit",
)

# landing/energy_reports/<YYYY-MM>.csv: an enterprise's monthly (or month-to-date flash) energy report.
ENERGY_REPORT_FIELDS = (
    "uscc",
    "month",
    "from_day",
    "through_day",
    "electricity_kwh",
    "natural_gas_m3",
    "coal_t",
    "energy_tce",
    "reported_at",
)

# landing/supply/<this file>: declared supplier links (supplier, customer, industry, since).
SUPPLIER_LINKS_FILE = "supplier_links.csv"
