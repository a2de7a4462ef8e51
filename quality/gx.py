"""Great Expectations validation of finished partitions.

Each table gets one GX suite built from the expectations declared on its rules (quality.rules), so a
rule is written once and its outcome maps back to its id (expectation meta ``rule_id``). A file data
context under ``gx_home`` keeps suites, results and the local Data Docs site, so a failed partition has
a page a person can open.

GX is imported lazily: importing it costs ~10 s, which Dagster code locations should not pay at load.
Contexts and per-table GX objects are cached per process, and objects are written to the stores only
when they differ from what is stored, so warm calls spend their time validating data, and concurrent
processes (Dagster's multiprocess executor) don't keep rewriting each other's config.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from quality.gx_files import file_lock
from quality.rules import Rule

if TYPE_CHECKING:
    from great_expectations.checkpoint import Checkpoint
    from great_expectations.core.validation_definition import ValidationDefinition
    from great_expectations.data_context import FileDataContext

DATASOURCE = "lakehouse"
BATCH_DEFINITION = "whole_partition"
SITE = "local_site"
SAMPLE_SIZE = 5
# The docs index loads every stored result on each build; capping it keeps builds O(limit), not O(history).
INDEX_RESULTS_LIMIT = 500
RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}


@dataclass
class ExpectationOutcome:
    rule_id: str
    success: bool
    evaluated: int  # rows evaluated (element_count, or the partition's row count)
    failed: int  # unexpected rows; 1 for a failing table-level expectation or one that raised
    sample: list  # up to SAMPLE_SIZE unexpected values, JSON-friendly
    error: str | None = None  # GX exception message (e.g. missing column): the rule could not be checked


@dataclass
class GxOutcome:
    success: bool
    outcomes: list[ExpectationOutcome]
    docs_url: str | None  # file:// URL of this result's Data Docs page (None when docs were not built)
    seconds: float


@dataclass
class _Table:
    fingerprint: str
    validation: ValidationDefinition
    checkpoint: Checkpoint


@dataclass
class _Context:
    context: FileDataContext
    lock: threading.Lock = field(default_factory=threading.Lock)
    tables: dict[str, _Table] = field(default_factory=dict)
    config_stamp: tuple[int, int] | None = None  # great_expectations.yml as this context last saw it


_CONTEXTS: dict[Path, _Context] = {}
_CONTEXTS_LOCK = threading.Lock()


def validate_partition(
    gx_home: Path,
    table: str,
    partition: str,
    df: pl.DataFrame,
    rules: Sequence[Rule],
    run_id: str,
    build_docs: bool = True,
) -> GxOutcome:
    """Validate one partition of `table` against the expectations of `rules`.

    The result is stored with run name ``"<partition>:<run_id>"`` so it can be traced to the partition and
    the Dagster run. With `build_docs` a checkpoint updates the local Data Docs site and `docs_url` points
    at this result's page; without it the result is only stored (docs can be built later by
    `build_data_docs`), which skips HTML rendering on the hot path.
    """
    start = time.perf_counter()  # includes the one-off GX import on a process's first call
    groups = _expectation_groups(rules)
    if not groups:  # nothing to check: don't pay for importing GX
        return GxOutcome(True, [], None, time.perf_counter() - start)
    from great_expectations.core.run_identifier import RunIdentifier

    home = Path(gx_home).resolve()
    pdf = _to_pandas(df)
    gx_run_id = RunIdentifier(run_name=f"{partition}:{run_id}")
    for attempt in range(2):
        ctx = _context(home, reload=attempt > 0)
        entry = _table(home, ctx, table, groups, force=attempt > 0)
        try:
            if build_docs:
                checkpoint_result = entry.checkpoint.run(
                    batch_parameters={"dataframe": pdf}, run_id=gx_run_id
                )
                ((result_key, result),) = checkpoint_result.run_results.items()
                docs_url = _docs_url(ctx.context, result_key)
            else:
                result = entry.validation.run(
                    batch_parameters={"dataframe": pdf}, result_format=RESULT_FORMAT, run_id=gx_run_id
                )
                docs_url = None
            break
        except Exception as exc:
            # Another process may have rewritten the stored config (freshness/not-found): reload once.
            if attempt or not _is_stale_error(exc):
                raise
    outcomes = _outcomes(result, groups, df.height)
    return GxOutcome(all(o.success for o in outcomes), outcomes, docs_url, time.perf_counter() - start)


def build_data_docs(gx_home: Path) -> str | None:
    """Rebuild the whole local Data Docs site (e.g. after runs with build_docs=False); index file:// URL."""
    home = Path(gx_home).resolve()
    ctx = _context(home)
    with ctx.lock, file_lock(home):
        urls = ctx.context.build_data_docs(site_names=[SITE])
    return urls.get(SITE)


# --- suites and GX objects ------------------------------------------------------------------------


def _expectation_groups(rules: Sequence[Rule]) -> list[tuple[str, dict, list[str]]]:
    """(type, kwargs, rule ids) per distinct expectation, in rule order.

    GX drops an expectation equal to one already in the suite (meta aside), so rules declaring the same
    expectation share one and each gets its outcome.
    """
    groups: dict[str, tuple[str, dict, list[str]]] = {}
    for rule in rules:
        if rule.expectation is None:
            continue
        key = json.dumps([rule.expectation.type, rule.expectation.kwargs], sort_keys=True, default=str)
        groups.setdefault(key, (rule.expectation.type, dict(rule.expectation.kwargs), []))[2].append(rule.id)
    return list(groups.values())


def _fingerprint(groups: list[tuple[str, dict, list[str]]]) -> str:
    payload = json.dumps(groups, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def _context(home: Path, reload: bool = False) -> _Context:
    """The cached file context for `home`, opened on first use (or again after a stale-config error)."""
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(home)
        if ctx is not None and not reload:
            return ctx
        home.mkdir(parents=True, exist_ok=True)
        with file_lock(home):
            ctx = _CONTEXTS[home] = _Context(_open(home))
            ctx.config_stamp = _config_stamp(ctx.context)
        return ctx


def _config_stamp(context: FileDataContext) -> tuple[int, int] | None:
    """The context's great_expectations.yml, modification time and size: has another process written it?"""
    try:
        st = (Path(context.root_directory) / "great_expectations.yml").stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _open(home: Path) -> FileDataContext:
    """Read the context from disk with analytics and progress bars off; call under `_file_lock`."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(home))
    changed = False
    if context.config.analytics_enabled is not False:
        context.config.analytics_enabled = False
        changed = True
    bars = context.variables.progress_bars  # a dict when read back from great_expectations.yml
    globally = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)
    if globally is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        changed = True
    sites = copy.deepcopy(context.variables.data_docs_sites or {})  # the getter hands out a copy
    index = sites.setdefault(SITE, {}).setdefault("site_index_builder", {})
    if index.get("validation_results_limit") != INDEX_RESULTS_LIMIT:
        index["validation_results_limit"] = INDEX_RESULTS_LIMIT
        context.variables.data_docs_sites = sites
        changed = True
    if changed:
        context.variables.save()
    return context


def _has_batch_definition(context: FileDataContext, table: str) -> bool:
    try:
        asset = context.data_sources.get(DATASOURCE).get_asset(table)
        return BATCH_DEFINITION in {b.name for b in asset.batch_definitions}
    except (KeyError, LookupError, ValueError):
        return False


def _table(home: Path, ctx: _Context, table: str, groups: list, force: bool = False) -> _Table:
    """Asset, suite, validation definition and checkpoint for `table`, written only when they changed."""
    fingerprint = _fingerprint(groups)
    with ctx.lock:
        entry = ctx.tables.get(table)
        if entry is not None and entry.fingerprint == fingerprint and not force:
            return entry
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.checkpoint import UpdateDataDocsAction
        from great_expectations.exceptions import DataContextError

        with file_lock(home):
            stamp = _config_stamp(ctx.context)
            if not _has_batch_definition(ctx.context, table) and (stamp is None or stamp != ctx.config_stamp):
                # GX writes great_expectations.yml whole from memory: re-read it so adding this table's
                # asset keeps the assets other processes added since this context last saw the file
                # (a fresh home's first run adds ~20 tables: 18.7 -> 18.0 s for a small materialize).
                ctx.context = _open(home)
            context = ctx.context
            try:
                datasource = context.data_sources.get(DATASOURCE)
            except (KeyError, ValueError, DataContextError):
                datasource = context.data_sources.add_pandas(DATASOURCE)
            asset_names = {a.name for a in datasource.assets}
            asset = (
                datasource.get_asset(table) if table in asset_names else datasource.add_dataframe_asset(table)
            )
            batch_names = {b.name for b in asset.batch_definitions}
            batch = (
                asset.get_batch_definition(BATCH_DEFINITION)
                if BATCH_DEFINITION in batch_names
                else asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
            )

            try:
                suite = context.suites.get(table)
            except DataContextError:
                suite = None
            if suite is None or suite.meta.get("fingerprint") != fingerprint:
                expectations = [
                    getattr(gxe, type_)(**kwargs, meta={"rule_id": ids[0], "rule_ids": ids})
                    for type_, kwargs, ids in groups
                ]
                suite = context.suites.add_or_update(
                    gx.ExpectationSuite(
                        name=table, expectations=expectations, meta={"fingerprint": fingerprint}
                    )
                )

            try:
                validation = context.validation_definitions.get(table)
                stale = validation.suite.id != suite.id or validation.data.id != batch.id
            except DataContextError:
                validation, stale = None, True
            if stale or validation is None:
                validation = context.validation_definitions.add_or_update(
                    gx.ValidationDefinition(name=table, data=batch, suite=suite)
                )

            checkpoint = gx.Checkpoint(
                name=table,
                validation_definitions=[validation],
                actions=[UpdateDataDocsAction(name="update_data_docs", site_names=[SITE])],
                result_format=RESULT_FORMAT,
            )
            try:
                existing = context.checkpoints.get(table)
                same = (
                    [v.id for v in existing.validation_definitions] == [validation.id]
                    and existing.result_format == checkpoint.result_format
                    and [a.type for a in existing.actions] == ["update_data_docs"]
                )
            except DataContextError:
                existing, same = None, False
            checkpoint = (
                existing if same and existing is not None else context.checkpoints.add_or_update(checkpoint)
            )
            ctx.config_stamp = _config_stamp(context)  # what this context wrote (or read) is on disk now

        entry = ctx.tables[table] = _Table(fingerprint, validation, checkpoint)
        return entry


def _is_stale_error(exc: Exception) -> bool:
    from great_expectations.exceptions import DataContextError, ResourceFreshnessAggregateError

    return isinstance(exc, ResourceFreshnessAggregateError | DataContextError)


# --- data in, outcomes out ------------------------------------------------------------------------


def _to_pandas(df: pl.DataFrame) -> Any:
    """Polars -> pandas with numpy-backed columns GX's pandas engine handles.

    pandas 3 gives strings the "str" dtype (NaN for missing) and nullable ints become float64 with NaN;
    tz-aware datetimes stay datetime64[us, UTC]. Arrow-backed extension dtypes are avoided: GX's pandas
    metrics (isin, duplicated, comparisons) are not reliable on them. Durations/categoricals/nested types
    convert as polars does by default.
    """
    return df.to_pandas()


def _outcomes(result: Any, groups: list[tuple[str, dict, list[str]]], rows: int) -> list[ExpectationOutcome]:
    """One outcome per rule id, in rule order, from the suite validation result."""
    by_rule: dict[str, ExpectationOutcome] = {}
    for item in result.results:
        meta = item.expectation_config.meta or {}
        ids = meta.get("rule_ids") or [meta.get("rule_id")]
        res = item.result or {}
        error = _error_message(item.exception_info)
        success = bool(item.success) and error is None
        evaluated = int(res.get("element_count", rows))
        failed = res.get("unexpected_count")
        if failed is None or error is not None:
            failed = 0 if success else 1
        sample = [_jsonable(v) for v in (res.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]]
        for rule_id in ids:
            if rule_id is not None:
                by_rule[rule_id] = ExpectationOutcome(rule_id, success, evaluated, int(failed), sample, error)
    outcomes = []
    for type_, _kwargs, ids in groups:
        for rule_id in ids:
            missing = ExpectationOutcome(rule_id, False, rows, 1, [], f"no GX result for {type_}")
            outcomes.append(by_rule.get(rule_id, missing))
    return outcomes


def _error_message(exception_info: Any) -> str | None:
    """GX nests exception info per metric when an expectation could not be computed."""
    if not isinstance(exception_info, dict):
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    for info in infos:
        if isinstance(info, dict) and info.get("raised_exception"):
            return str(info.get("exception_message") or "exception")
    return None


def _jsonable(value: Any) -> Any:
    """Samples leave GX as numpy/pandas scalars and NaN for nulls: make them plain, comparable values."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or type(value).__name__ in {"NaTType", "NAType"}:
        return None
    if isinstance(value, datetime | date):  # before .item(): numpy datetime64[ns].item() is an int
        return value.isoformat()
    if type(value).__name__ == "datetime64":
        return str(value)
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _docs_url(context: Any, result_key: Any) -> str | None:
    """file:// URL of the result page if it exists, else of the site index."""
    for site in context.get_docs_sites_urls(resource_identifier=result_key, site_names=[SITE]):
        url = site.get("site_url")
        if url and Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path)).exists():
            return url
    for site in context.get_docs_sites_urls(site_names=[SITE]):
        if site.get("site_url"):
            return site["site_url"]
    return None
