"""The catalog: build records, reconciliation, quality results, the resource directory, alerts, feeds, query audit, housekeeping and the plan's KPIs."""

from __future__ import annotations

import polars as pl

from warehouse.registry.spec import UTC_TS, TableSpec, cols

PLAN_PROGRESS = TableSpec(
    name="theme.plan_progress",
    description="The plan's KPIs per as-of day: value, target where the plan sets one, progress (history kept).",
    domain="management",
    grade=1,
    owner="planning-office",
    group="plan",  # reads the industry libraries and the sync ledger, so after them
    key=("as_of_day", "kpi"),
    columns=cols(
        ("as_of_day", pl.Date, "Latest local day of built energy data the figures cover"),
        ("kpi", pl.String, "KPI id"),
        ("description", pl.String, "What is counted"),
        ("value", pl.Float64, "Value on the as-of day"),
        ("target", pl.Float64, "The plan's target; null where it sets none"),
        ("unit", pl.String, "Unit of value and target"),
        ("progress_pct", pl.Float64, "value / target x 100; null without a target"),
        ("source", pl.String, "Tables the KPI reads"),
    ),
)


DAY_BUILD = TableSpec(
    name="catalog.day_build",
    description="One row per local day whose daily_job finished every asset: committed last, by the job's last "
    "asset, so a day is built only when all of it is built (a crash before leaves the day pending).",
    domain="operations",
    grade=1,
    owner="data-engineering",
    key=("day",),
    columns=cols(
        ("day", pl.Date, "Local day"),
        ("run_id", pl.String, "Run that built every table of the day"),
        (
            "run_started_at",
            UTC_TS,
            "When that run started: records ingested later make the day pending again",
        ),
        ("built_at", UTC_TS, "When the last asset of the day committed"),
        (
            "provisional",
            pl.Boolean,
            "The run started before the local day closed: the day's figures so far, never synced; the "
            "first run after local midnight rebuilds the day in full and sets it false",
        ),
    ),
)


CATALOG_BUILD = TableSpec(
    name="catalog.catalog_build",
    description="The Delta version of every input table catalog_job last built from (written last by it): "
    "catalog_job runs again when any input has moved on.",
    domain="operations",
    grade=1,
    owner="data-engineering",
    key=("table_name",),
    columns=cols(
        ("table_name", pl.String, "Input table"),
        ("delta_version", pl.Int64, "Its Delta version when catalog_job finished; null if absent"),
        ("run_id", pl.String, "The catalog_job run"),
        ("built_at", UTC_TS, "When"),
    ),
)


RECONCILIATION = TableSpec(
    name="catalog.reconciliation",
    description="Per table and partition: landed = clean + quarantined + duplicates, as last built.",
    domain="operations",
    grade=1,
    owner="data-engineering",
    key=("table_name", "partition"),
    columns=cols(
        ("table_name", pl.String, "Table"),
        ("partition", pl.String, "Partition key (local day)"),
        ("landed", pl.Int64, "Records routed to the partition"),
        ("clean", pl.Int64, "Records written to the table"),
        ("quarantined", pl.Int64, "Records quarantined"),
        ("duplicates", pl.Int64, "Records dropped as duplicates"),
        ("run_id", pl.String, "Run that built the partition"),
        ("built_at", UTC_TS, "When"),
    ),
    record_columns=("run_id", "built_at"),
)


QUALITY_RESULTS = TableSpec(
    name="catalog.quality_results",
    description="Quality rule outcomes per table, partition and rule (row rules and Great Expectations).",
    domain="operations",
    grade=1,
    owner="data-quality",
    key=("table_name", "partition", "rule_id", "kind"),
    columns=cols(
        ("table_name", pl.String, "Table"),
        ("partition", pl.String, "Partition key"),
        ("rule_id", pl.String, "Rule id from quality/rules.py"),
        ("kind", pl.String, "row (quarantine tally) | gx (Great Expectations) | partition | reconciliation"),
        ("severity", pl.String, "error (blocks downstream) or warn"),
        ("evaluated", pl.Int64, "Rows evaluated"),
        ("failed", pl.Int64, "Rows failing"),
        ("pass_rate", pl.Float64, "1 - failed / evaluated"),
        ("passed", pl.Boolean, "Whether the rule passed"),
        ("run_id", pl.String, "Run"),
        ("checked_at", UTC_TS, "When"),
    ),
    record_columns=("run_id", "checked_at"),
)


QUALITY_SCORECARD = TableSpec(
    name="catalog.quality_scorecard",
    description="Pass rate per table and partition over all its quality rules, for the data engineer's daily look.",
    domain="operations",
    grade=1,
    owner="data-quality",
    key=("table_name", "partition"),
    columns=cols(
        ("table_name", pl.String, "Table"),
        ("partition", pl.String, "Partition key"),
        ("rules", pl.Int64, "Rules evaluated"),
        ("rules_failed", pl.Int64, "Rules that failed"),
        ("rows_evaluated", pl.Int64, "Sum of rows evaluated over the rules"),
        ("rows_failed", pl.Int64, "Sum of failing rows over the rules"),
        ("pass_rate", pl.Float64, "1 - rows_failed / rows_evaluated"),
        ("last_checked_at", UTC_TS, "Latest check"),
    ),
)


ALERT = TableSpec(
    name="catalog.alert",
    description=(
        "Every alert raised or resolved, per channel: one incident key stays open until its condition clears; "
        "delivery says whether it was sent, folded into a summary by the rate limit, suppressed or failed."
    ),
    domain="operations",
    grade=1,
    owner="data-engineering",
    key=("alert_id", "channel"),
    columns=cols(
        ("alert_id", pl.String, "Id of the alert (incident key, event and time)"),
        (
            "incident_key",
            pl.String,
            "What the incident is about, e.g. check_failed:silver.telemetry:2026-11-01:day_complete",
        ),
        (
            "kind",
            pl.String,
            "check_failed | run_failed | feed_stale | files_rejected | sync_failed | sync_overdue | sync_held",
        ),
        ("event", pl.String, "raised | resolved"),
        ("severity", pl.String, "error | warn"),
        ("title", pl.String, "One-line title"),
        ("body", pl.String, "The message as sent (markdown; secrets and personal data never included)"),
        ("channel", pl.String, "webhook | email"),
        (
            "delivery",
            pl.String,
            "sent | summarized (in a rate-limit summary) | suppressed (window full) | failed",
        ),
        (
            "error",
            pl.String,
            "Why a delivery failed (no secrets), or the summary a rate-limited alert went out in",
        ),
        ("created_at", UTC_TS, "When"),
    ),
)


FEED_STATUS = TableSpec(
    name="catalog.feed_status",
    description=(
        "Per enterprise and source: last reading, last file, lateness against the cadence and the day's "
        "completeness so far (national energy-monitoring: judged on timeliness)."
    ),
    domain="operations",
    grade=1,
    owner="data-engineering",
    key=("uscc", "source"),
    columns=cols(
        ("uscc", pl.String, "Enterprise"),
        ("source", pl.String, "Feed: telemetry"),
        ("last_reading_at", UTC_TS, "Latest reading timestamp received (null: none in the look-back)"),
        ("last_file", pl.String, "Landing file of that latest reading"),
        ("cadence_minutes", pl.Float64, "Expected interval between readings"),
        ("lateness_minutes", pl.Float64, "Minutes past the cadence since the last reading (0: on time)"),
        ("status", pl.String, "on_time | late | silent (nothing within the silent threshold)"),
        ("readings_expected", pl.Int64, "Readings expected so far today from the master data"),
        ("readings_received", pl.Int64, "Readings received so far today"),
        ("completeness_pct", pl.Float64, "received / expected so far, capped at 100"),
        ("day", pl.Date, "Local day the completeness is for"),
        ("checked_at", UTC_TS, "When the status was computed"),
    ),
)


CATALOG_DATASET = TableSpec(
    name="catalog.dataset",
    description="The resource directory (资源目录): every dataset of the lakehouse, derived from the registry, Delta logs and Dagster.",
    domain="management",
    grade=1,
    owner="data-governance",
    key=("table_name",),
    columns=cols(
        ("table_name", pl.String, "Dataset (schema.table in DuckDB)"),
        ("layer", pl.String, "bronze | silver | theme | quarantine | catalog"),
        ("description", pl.String, "What the dataset holds"),
        ("owner", pl.String, "Owning team"),
        ("data_domain", pl.String, "MIIT data domain"),
        ("grade", pl.Int64, "1 low, 2 medium, 3 high"),
        ("grade_tier", pl.String, "2022 tier: general / important / core"),
        ("partition_by", pl.String, "Partition column, if any"),
        ("primary_key", pl.String, "Declared key"),
        ("columns", pl.Int64, "Number of columns"),
        ("row_count", pl.Int64, "Rows in the current Delta version"),
        ("size_bytes", pl.Int64, "Bytes of the current version's data files"),
        ("latest_version", pl.Int64, "Current Delta version"),
        ("updated_at", UTC_TS, "Time of the latest commit"),
        ("freshness_hours", pl.Float64, "Hours since the latest commit when the directory was built"),
        ("pass_rate", pl.Float64, "Quality pass rate over all partitions (catalog.quality_scorecard)"),
        (
            "queries_30d",
            pl.Int64,
            "Statements through the SQL endpoint that read it, last 30 days (catalog.query_audit)",
        ),
        ("upstream", pl.List(pl.String), "Datasets it is built from (Dagster asset graph)"),
        ("downstream", pl.List(pl.String), "Datasets built from it"),
    ),
)


CATALOG_COLUMN = TableSpec(
    name="catalog.column",
    description="Every column of every dataset with type, description and grade.",
    domain="management",
    grade=1,
    owner="data-governance",
    key=("table_name", "column_name"),
    columns=cols(
        ("table_name", pl.String, "Dataset"),
        ("position", pl.Int64, "1-based position"),
        ("column_name", pl.String, "Column"),
        ("data_type", pl.String, "Type"),
        ("description", pl.String, "What it holds"),
        ("grade", pl.Int64, "Column grade 1/2/3"),
        ("is_partition", pl.Boolean, "Partition column"),
        ("is_key", pl.Boolean, "Part of the declared key"),
    ),
)


QUERY_AUDIT = TableSpec(
    name="catalog.query_audit",
    description="Every statement run through the SQL endpoint (lakehouse serve-sql): who, role, when, how long, rows, tables touched, outcome, SHA-256 of the SQL text. Never the values returned.",
    domain="operations",
    grade=3,  # who read what is itself sensitive: stewards only
    owner="platform",
    partition_by="day",
    key=("session_id", "seq"),
    columns=cols(
        ("day", pl.Date, "UTC day the statement started (partition)"),
        ("started_at", UTC_TS, "When the statement started"),
        ("user_name", pl.String, "Endpoint user"),
        ("role", pl.String, "Role the statement ran under (analyst | steward)"),
        ("client_addr", pl.String, "Client address"),
        ("session_id", pl.String, "Connection id"),
        ("seq", pl.Int64, "Statement number within the connection"),
        ("duration_ms", pl.Float64, "Wall time from receipt to the last row sent"),
        ("rows", pl.Int64, "Rows returned"),
        ("tables", pl.String, "JSON list of the tables the statement referenced"),
        ("status", pl.String, "ok | error | timeout | cancelled | row_cap"),
        ("sqlstate", pl.String, "PostgreSQL SQLSTATE of the error, if any"),
        ("sql_sha256", pl.String, "SHA-256 of the SQL text (the text itself is not kept)"),
        ("snapshot", pl.String, "Role file snapshot (inode:mtime) the statement read"),
    ),
)


HOUSEKEEPING = TableSpec(
    name="catalog.housekeeping",
    description=(
        "One row per table and housekeeping run: data files and bytes on disk and in the current version before "
        "and after compaction (Z-ordered by the registry's cluster_by), checkpoint, VACUUM and orphan removal."
    ),
    domain="operations",
    grade=1,
    owner="platform",
    key=("run_id", "table_name"),
    columns=cols(
        ("run_id", pl.String, "Housekeeping run"),
        (
            "table_name",
            pl.String,
            "Table (schema.table); '(dagster)' and '(gx)' rows for run history and Data Docs",
        ),
        ("started_at", UTC_TS, "When the table's housekeeping started"),
        ("seconds", pl.Float64, "Wall time spent on it"),
        ("version_before", pl.Int64, "Delta version before"),
        ("version_after", pl.Int64, "Delta version after (compaction and vacuum commit)"),
        ("live_files_before", pl.Int64, "Data files of the current version before"),
        ("live_files_after", pl.Int64, "... after"),
        ("live_bytes_before", pl.Int64, "Bytes of the current version's data files before"),
        ("live_bytes_after", pl.Int64, "... after (compaction rewrites; bytes change with encoding)"),
        ("disk_files_before", pl.Int64, "Data files on disk (any version, orphans) before"),
        ("disk_files_after", pl.Int64, "... after VACUUM and orphan removal"),
        ("disk_bytes_before", pl.Int64, "Bytes of data files on disk before"),
        ("disk_bytes_after", pl.Int64, "... after"),
        ("partitions_compacted", pl.Int64, "Partitions whose small files were rewritten"),
        ("files_compacted", pl.Int64, "Files rewritten by compaction (removed from the current version)"),
        ("cluster_by", pl.String, "Z-order columns (registry cluster_by); empty: plain compaction"),
        (
            "files_vacuumed",
            pl.Int64,
            "Files of earlier versions deleted by VACUUM (older than the retention)",
        ),
        ("orphans_removed", pl.Int64, "Files no commit ever referenced, deleted"),
        ("checkpoint_version", pl.Int64, "Version checkpointed"),
        ("log_files_removed", pl.Int64, "Expired Delta log files removed after the checkpoint"),
        ("retention_hours", pl.Float64, "VACUUM retention: time travel works within it"),
        ("error", pl.String, "Why the table was left as it was (e.g. a concurrent commit); null when done"),
    ),
)
