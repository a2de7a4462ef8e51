"""The golden record of enterprises: register snapshots + roster -> silver.enterprise (SCD type 2).

Survivorship (which source wins which field, and why):

* **Existence, USCC, name, legal representative, phone, address, region, industry, registered capital,
  status, established date: the market-regulation register.** It is the legal registration; the roster
  copies these fields by hand and lags behind renames and moves. Where the roster disagrees (an older
  name, another industry) the register wins and the disagreement is counted (`conflicts`), not dropped.
  Of two valid rows of one USCC in one export, the later line wins.
* **key_energy_user and energy_use_level: the industry roster.** The industry department designates
  key energy-using units; the register knows nothing of it. An enterprise not on the roster is not a
  key energy user (False) with no level.
* **DCMM assessments: the roster** (silver.dcmm_assessment), one row per enterprise and assessment date.
* Roster rows are matched to the register by a valid USCC; when the USCC is missing or an old 15-digit
  registration number, by normalized name (NFKC full-width -> half-width, spaces removed) within the
  same city (Laiwu 3712 counts as Jinan 3701). A roster row that matches nothing is quarantined
  (`roster_unmatched`): the roster cannot create an enterprise the register does not know.

History: each register export is a snapshot dated by its file name (or modification date). Snapshots are
applied in date order with Lake.scd2_merge (as_of = snapshot date); one older than the latest applied
version is ignored (reported), so re-running the same files changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assets.enterprise.sources import (
    SCORES,
    SourceError,
    Validated,
    file_quarantine,
    normalize_name,
    quarantine_rows,
    read_roster,
    registry_files,
    validate_register,
)
from assets.gate import Gated
from quality.checks import Reconciliation
from quality.rules import ROSTER_ROW_RULES, first_failed_rule
from warehouse.codes import city_of_division, uscc_problem
from warehouse.registry import DCMM_ASSESSMENT, ENTERPRISE, QUARANTINE_ENTERPRISE
from warehouse.storage import Lake

TRACKED = (
    "name",
    "legal_representative",
    "phone",
    "legal_representative_id",
    "address",
    "city_code",
    "division_code",
    "industry_code",
    "registered_capital",
    "status",
    "established_date",
    "key_energy_user",
    "energy_use_level",
    "sources",
)
STATE_COLUMNS = ("uscc", *TRACKED, "row_hash")


@dataclass
class RosterMatch:
    landed: int
    attributes: pl.DataFrame  # uscc, key_energy_user, energy_use_level
    assessments: pl.DataFrame  # silver.dcmm_assessment rows
    quarantined: pl.DataFrame
    duplicates: int
    conflicts: int
    matched_by_name: int
    reasons: dict[str, int] = field(default_factory=dict)


def match_roster(raw: pl.DataFrame, register: pl.DataFrame, source_file: str) -> RosterMatch:
    """Match roster rows to register enterprises (USCC, else normalized name + city) and split them."""
    rows = raw.with_columns(
        uscc=pl.col("uscc").str.strip_chars().str.to_uppercase(),
        name_norm=normalize_name("name"),
        city_code=pl.col("region_code").map_elements(
            city_of_division, return_dtype=pl.String, skip_nulls=True
        ),
        dcmm_level=pl.col("dcmm_level").cast(pl.Float64, strict=False).cast(pl.Int64, strict=False),
    ).with_columns(
        valid_uscc=pl.col("uscc").map_elements(
            lambda u: u if uscc_problem(u) is None else None, return_dtype=pl.String, skip_nulls=True
        ),
    )
    known = register.select(
        "uscc",
        pl.col("name").alias("name_norm"),
        "city_code",
        pl.col("industry_code").alias("reg_industry"),
        pl.col("name").alias("reg_name"),
    )
    by_uscc = rows.join(
        known.select("uscc", "reg_name", "reg_industry").rename({"uscc": "valid_uscc"}),
        on="valid_uscc",
        how="left",
    ).with_columns(by_uscc=pl.when(pl.col("reg_name").is_not_null()).then(pl.col("valid_uscc")))
    by_name = by_uscc.drop("reg_name", "reg_industry").join(
        known.select("name_norm", "city_code", pl.col("uscc").alias("by_name"), "reg_name", "reg_industry"),
        on=["name_norm", "city_code"],
        how="left",
    )
    matched = by_uscc.select("line_no", "by_uscc", "reg_name", "reg_industry").join(
        by_name.select(
            "line_no", "by_name", pl.col("reg_name").alias("rn2"), pl.col("reg_industry").alias("ri2")
        ),
        on="line_no",
        how="left",
    )
    rows = (
        rows.join(matched, on="line_no", how="left")
        .with_columns(
            matched_uscc=pl.coalesce("by_uscc", "by_name"),
            matched_by=pl.when(pl.col("by_uscc").is_not_null())
            .then(pl.lit("uscc"))
            .when(pl.col("by_name").is_not_null())
            .then(pl.lit("name_region")),
            reg_name=pl.coalesce("reg_name", "rn2"),
            reg_industry=pl.coalesce("reg_industry", "ri2"),
        )
        .with_columns(reason=first_failed_rule(ROSTER_ROW_RULES))
    )
    bad = rows.filter(pl.col("reason").is_not_null())
    good = rows.filter(pl.col("reason").is_null())
    per_enterprise = (
        good.sort("line_no")
        .group_by("matched_uscc", maintain_order=True)
        .agg(
            key_energy_user=(
                pl.col("key_energy_user").str.strip_chars().is_in(["是", "Y", "y", "1", "true", "True"])
            ).last(),
            energy_use_level=pl.col("energy_use_level").last(),
            conflicts=(
                (pl.col("name_norm") != pl.col("reg_name")).cast(pl.Int64)
                + (pl.col("industry_code").str.slice(0, 2) != pl.col("reg_industry"))
                .fill_null(False)
                .cast(pl.Int64)
            ).first(),
            by_name=(pl.col("matched_by") == "name_region").first(),
        )
        .rename({"matched_uscc": "uscc"})
    )
    scores = good.filter(pl.col("dcmm_level").is_not_null()).select(
        pl.col("matched_uscc").alias("uscc"),
        "assessed_on",
        *[pl.col(s).cast(pl.Float64, strict=False) for s in SCORES],
        pl.col("dcmm_level").alias("level"),
        "matched_by",
    )
    assessments = scores.unique(subset=["uscc", "assessed_on"], keep="last", maintain_order=True)
    rows_per_enterprise = good.group_by("matched_uscc").agg(
        n=pl.len(), assessed=pl.col("dcmm_level").is_not_null().sum()
    )
    # One roster line per enterprise and assessment; a second line without assessment is a duplicate.
    duplicates = int(
        (rows_per_enterprise["n"] - rows_per_enterprise["assessed"].clip(lower_bound=1)).sum() or 0
    )
    duplicates += scores.height - assessments.height
    return RosterMatch(
        landed=raw.height,
        attributes=per_enterprise.select("uscc", "key_energy_user", "energy_use_level"),
        assessments=DCMM_ASSESSMENT.conform(assessments),
        quarantined=quarantine_rows(source_file, bad),
        duplicates=duplicates,
        conflicts=int(per_enterprise["conflicts"].sum() or 0),
        matched_by_name=int(per_enterprise["by_name"].sum() or 0),
        reasons=dict(bad.group_by("reason").len().iter_rows()),
    )


def survive(register: pl.DataFrame, roster_attributes: pl.DataFrame) -> pl.DataFrame:
    """The golden state of one snapshot: register fields + roster designations (see module docstring)."""
    attrs = roster_attributes.with_columns(on_roster=pl.lit(True))
    state = register.join(attrs, on="uscc", how="left").with_columns(
        key_energy_user=pl.col("key_energy_user").fill_null(False),
        sources=pl.when(pl.col("on_roster")).then(pl.lit("registry+roster")).otherwise(pl.lit("registry")),
    )
    state = state.select([c for c in STATE_COLUMNS if c != "row_hash"]).cast(
        {c: t for c, t in ENTERPRISE.schema.items() if c in TRACKED or c == "uscc"}
    )
    return state.with_columns(
        row_hash=pl.concat_str([pl.col(c).cast(pl.String).fill_null("∅") for c in TRACKED], separator="|")
        .hash()
        .cast(pl.String)
    ).sort("uscc")


@dataclass
class RegistryBuild:
    """Everything one pass over landing/registry yields."""

    snapshots: list[tuple[dt.date, pl.DataFrame]]  # golden state per register snapshot, date order
    quarantined: pl.DataFrame
    assessments: pl.DataFrame
    files: list[Validated]
    roster: RosterMatch | None
    reasons: dict[str, int]


def build_registry(folder: Path) -> RegistryBuild:
    """Read every register export and roster workbook under `folder`; validate, match and survive."""
    csvs, workbooks = registry_files(folder)
    validated = [validate_register(p, relative_to=folder.parent) for p in csvs]
    registers = sorted((v for v in validated if v.clean.height), key=lambda v: (v.snapshot, v.source_file))
    latest = (
        registers[-1].clean
        if registers
        else pl.DataFrame(
            schema={"uscc": pl.String, "name": pl.String, "city_code": pl.String, "industry_code": pl.String}
        )
    )
    quarantined = [v.quarantined for v in validated]
    attributes = pl.DataFrame(
        schema={"uscc": pl.String, "key_energy_user": pl.Boolean, "energy_use_level": pl.String}
    )
    assessments = pl.DataFrame(schema=DCMM_ASSESSMENT.schema)
    roster = None
    for book in workbooks:
        source = str(book.relative_to(folder.parent))
        try:
            raw = read_roster(book)
        except SourceError as err:
            quarantined.append(file_quarantine(source, err))
            validated.append(Validated(source, 1, pl.DataFrame(), quarantined[-1], reasons={err.reason: 1}))
            continue
        roster = match_roster(raw, latest, source)
        quarantined.append(roster.quarantined)
        attributes = pl.concat([attributes, roster.attributes]).unique("uscc", keep="last")
        assessments = pl.concat([assessments, roster.assessments]).unique(
            ["uscc", "assessed_on"], keep="last"
        )
    snapshots = [(v.snapshot, survive(v.clean, attributes)) for v in registers]
    q = pl.concat(quarantined) if quarantined else pl.DataFrame(schema=QUARANTINE_ENTERPRISE.schema)
    reasons = dict(q.group_by("reason").len().sort("reason").iter_rows()) if q.height else {}
    return RegistryBuild(snapshots, q, assessments.sort("uscc", "assessed_on"), validated, roster, reasons)


def current(enterprises: pl.DataFrame) -> pl.DataFrame:
    """Current golden-record rows (valid_to is null); a frame without history columns is returned as is."""
    return (
        enterprises.filter(pl.col("valid_to").is_null()) if "valid_to" in enterprises.columns else enterprises
    )


def apply_snapshots(store: Lake, build: RegistryBuild, run_id: str) -> tuple[list[dict], list[str]]:
    """Merge each register snapshot in date order (SCD2); one older than the latest applied version is
    ignored and reported, so re-running the same files changes nothing. Returns (applied, stale)."""
    applied, stale = [], []
    for as_of, state in build.snapshots:
        latest = (
            store.read(ENTERPRISE, columns=["valid_from"])["valid_from"].max()
            if store.exists(ENTERPRISE)
            else None
        )
        if latest is not None and as_of < latest:
            stale.append(as_of.isoformat())
            continue
        applied.append(
            {"as_of": as_of.isoformat(), **store.scd2_merge(ENTERPRISE, state, as_of=as_of, run_id=run_id)}
        )
    return applied, stale


def reconciliation_parts(build: RegistryBuild) -> dict[str, Reconciliation]:
    """landed = clean + quarantined + duplicates per source file: each register export, and the roster."""
    parts = {
        v.source_file: Reconciliation(v.landed, v.clean.height, v.quarantined.height, v.duplicates)
        for v in build.files
    }
    if build.roster is not None:
        r = build.roster
        src = r.quarantined["source_file"][0] if r.quarantined.height else "registry/roster"
        parts[src] = Reconciliation(
            r.landed, r.landed - r.quarantined.height - r.duplicates, r.quarantined.height, r.duplicates
        )
    return parts


def gated(history: pl.DataFrame, build: RegistryBuild) -> list[Gated]:
    """What the golden record's checks see: the current rows, reconciled per source file (each register
    export and the roster) with the row rules' counts, and the DCMM assessments."""
    golden = Gated(
        ENTERPRISE,
        current(history),
        sources=reconciliation_parts(build),
        checks={"row_rule_counts": build.reasons},
    )
    return [golden, Gated(DCMM_ASSESSMENT, build.assessments)]
