"""Build records: what a job finished building, committed last by the job's last asset.

A day counts as built only when `catalog.day_build` holds it, and that row is written by an asset that
depends on every other asset of daily_job: it runs only after all of them committed (and passed their
blocking checks) in the same run. A crash, a failure or a blocked check anywhere in the day leaves no
row, so the day stays pending and the next run rebuilds all of it.

`catalog.catalog_build` keeps the Delta version of each input table catalog_job last built from; the
catalog is stale as soon as any of them moved on. Both records are generic over their job's assets:
they are given the keys to follow, not the tables' internals.

A day built by a run that started before the local day closed is *provisional* (today's figures so far):
its row says so, its materializations carry the `lakehouse/provisional` tag, the sync refuses it, and
once the day has closed it is pending again, so the next run rebuilds it in full (`pending_days`).
"""

import datetime as dt
from collections.abc import Sequence

import polars as pl
from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, asset

from assets.day_range import DayRange, daily_backfill
from assets.metadata import spec_kwargs
from assets.partitions import daily_local
from assets.resources import LakeResource, WarehouseResource
from assets.telemetry.days import migrate_day_build
from warehouse.domain import provisional
from warehouse.registry import CATALOG_BUILD, DAY_BUILD, TableSpec
from warehouse.storage import Lake


def day_build_row(
    day: dt.date, run_id: str, run_started_at: dt.datetime, built_at: dt.datetime
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "day": [day],
            "run_id": [run_id],
            "run_started_at": [run_started_at],
            "built_at": [built_at],
            "provisional": [provisional(day, run_started_at)],
        },
        schema=DAY_BUILD.schema,
    )


PROVISIONAL_TAG = "lakehouse/provisional"


def provisional_marks(day: dt.date, run_started_at: dt.datetime) -> tuple[dict, dict[str, str]]:
    """Metadata and tags that show in the UI whether a materialization of `day` holds the figures so far."""
    flag = provisional(day, run_started_at)
    return {"provisional": flag}, {PROVISIONAL_TAG: str(flag).lower()}


def input_versions(lake: Lake, inputs: Sequence[TableSpec]) -> dict[str, int | None]:
    """The current Delta version of each input table (None while it does not exist)."""
    return {spec.name: lake.version(spec) if lake.exists(spec) else None for spec in inputs}


def catalog_build_rows(versions: dict[str, int | None], run_id: str, built_at: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "table_name": list(versions),
            "delta_version": list(versions.values()),
            "run_id": [run_id] * len(versions),
            "built_at": [built_at] * len(versions),
        },
        schema=CATALOG_BUILD.schema,
    )


def catalog_stale(lake: Lake, inputs: Sequence[TableSpec]) -> bool:
    """True when catalog_job never finished, or an input table changed rows since the version it built from.

    Housekeeping's commits (compaction, VACUUM) move a version without changing a row: not stale.
    """
    built = lake.read(CATALOG_BUILD)
    if built.is_empty():
        return True
    recorded = dict(built.select("table_name", "delta_version").iter_rows())
    current = input_versions(lake, inputs)
    moved = [spec for spec in inputs if recorded.get(spec.name, -1) != current[spec.name]]
    return any(
        current[spec.name] is None
        or recorded.get(spec.name) is None
        or lake.data_changed(spec, recorded[spec.name])
        for spec in moved
    )


def run_started_at(context: AssetExecutionContext) -> dt.datetime:
    """When this run started (its record in the instance); now if the instance does not know."""
    record = context.instance.get_run_record_by_id(context.run_id)
    if record is not None and record.start_time:
        return dt.datetime.fromtimestamp(record.start_time, dt.UTC)
    return dt.datetime.now(dt.UTC)


def day_build_asset(after: Sequence[AssetKey]):
    """The last asset of daily_job: records each day of the run once every asset in `after` built it."""

    @asset(
        **spec_kwargs(DAY_BUILD), partitions_def=daily_local, backfill_policy=daily_backfill, deps=list(after)
    )
    def catalog_day_build(context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource):
        """The days are built: every table of daily_job committed each of them in this run.

        The serving files are refreshed here, once per run, not after each asset: a refresh rewrites
        every role's file, and a reader that needs the newest state refreshes on opening anyway. A day
        blocked upstream (in a range run) is not recorded, and the run fails naming it, as its own would.
        """
        span, started = DayRange.of(context, upstream=after), run_started_at(context)
        migrate_day_build(
            lake.lake, context.run_id
        )  # records from before `provisional`: once, by their writer
        version = record_days(lake.lake, span.to_build, context.run_id, started)
        warehouse.refresh(lake.lake)
        for day in span.to_build:
            span.add(day, [day_built_result(day, started, version, len(after))])
        yield from span.results(context, [AssetKey(DAY_BUILD.asset_key)])
        if span.blocked:
            raise Failure(f"days blocked, not recorded as built: {span.reasons()}")

    return catalog_day_build


def record_days(lake: Lake, days: Sequence[dt.date], run_id: str, started: dt.datetime) -> int:
    """One upsert of catalog.day_build for every built day of a run."""
    now = dt.datetime.now(dt.UTC)
    rows = pl.concat([day_build_row(day, run_id, started, now) for day in days])
    return lake.upsert(DAY_BUILD, rows, run_id=run_id)


def day_built_result(day: dt.date, started: dt.datetime, version: int, tables: int) -> MaterializeResult:
    metadata, tags = provisional_marks(day, started)
    return MaterializeResult(
        asset_key=DAY_BUILD.asset_key,
        metadata={"delta_version": version, "tables_after": tables, **metadata},
        tags=tags,
    )


def catalog_build_asset(after: Sequence[AssetKey], inputs: Sequence[TableSpec]):
    """The last asset of catalog_job: the input versions it built from, so an unchanged lake skips it."""

    @asset(**spec_kwargs(CATALOG_BUILD), deps=list(after))
    def catalog_catalog_build(
        context: AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
    ) -> MaterializeResult:
        """catalog_job finished: remember which version of each input it reflects."""
        versions = input_versions(lake.lake, inputs)
        rows = catalog_build_rows(versions, context.run_id, dt.datetime.now(dt.UTC))
        version = lake.lake.overwrite(CATALOG_BUILD, rows, run_id=context.run_id)
        warehouse.refresh(lake.lake)
        return MaterializeResult(metadata={"delta_version": version, "inputs": len(versions)})

    return catalog_catalog_build
