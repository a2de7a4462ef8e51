"""The landing contracts: what each source delivers under LAKEHOUSE_HOME/landing, file by file.

The pipeline reads these names, the simulator and the collectors write them, the bench generates them:
nothing else declares them. The live (MQTT) contract is warehouse.uns.
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

# landing/registry/*.csv: the market-regulation register export (GB18030); its Chinese header, in export
# order, to the names the pipeline uses.
REGISTER_COLUMNS: dict[str, str] = {
    "统一社会信用代码": "uscc",
    "企业名称": "name",
    "法定代表人": "legal_representative",
    "联系电话": "phone",
    "法定代表人证件号码": "legal_representative_id",
    "住所": "address",
    "行政区划代码": "region_code",
    "行业代码": "industry_code",
    "注册资本(万元)": "registered_capital",
    "登记状态": "status",
    "成立日期": "established",
}
# landing/registry/*.xlsx: the industry department's roster of key enterprises with DCMM assessments
# (GB/T 36073), one row per assessment; header in export order to names.
ROSTER_COLUMNS: dict[str, str] = {
    "企业名称": "name",
    "统一社会信用代码": "uscc",
    "行政区划代码": "region_code",
    "行业代码": "industry_code",
    "用能等级": "energy_use_level",
    "重点用能单位": "key_energy_user",
    "评估日期": "assessed_on_text",
    "数据战略": "score_strategy",
    "数据治理": "score_governance",
    "数据架构": "score_architecture",
    "数据应用": "score_application",
    "数据安全": "score_security",
    "数据质量": "score_quality",
    "数据标准": "score_standards",
    "数据生存周期": "score_lifecycle",
    "DCMM等级": "dcmm_level",
}
