"""Masking of personal data (legal representatives' names, phone numbers, ID numbers).

DOMAIN.md: personal data is at least grade 2 and is masked outside the provincial core. Silver keeps it
in clear (the core); every theme table carries only the masked form, and the DuckDB views analysts
query mask every column the registry declares personal (Column.pii), whatever layer it is in.
One rule per kind, written here twice (polars and DuckDB SQL) and pinned by the same tests.
"""

from __future__ import annotations

import polars as pl

PII_KINDS = ("name", "phone", "id_number")


def mask_name(col: str | pl.Expr) -> pl.Expr:
    """张三 -> 张*, 欧阳娜娜 -> 欧***: the surname's first character stays."""
    e = pl.col(col) if isinstance(col, str) else col
    return (
        pl.when(e.is_null() | (e.str.len_chars() == 0))
        .then(e)
        .otherwise(e.str.slice(0, 1) + pl.lit("*").repeat_by(e.str.len_chars() - 1).list.join(""))
    )


# Masks that keep a value's ends: kind -> (characters kept at the start, what stands for the middle, the
# shortest value masked so; shorter ones become ****); the last 4 characters are kept too. The polars
# masks and the DuckDB ones (mask_sql) both read this.
KEEP_ENDS: dict[str, tuple[int, str, int]] = {"phone": (3, "****", 7), "id_number": (6, "********", 10)}


def mask_phone(col: str | pl.Expr) -> pl.Expr:
    """13812341234 -> 138****1234; anything shorter than 7 characters -> ****."""
    return _keep_ends(col, "phone")


def mask_id_number(col: str | pl.Expr) -> pl.Expr:
    """GB 11643 resident ID: first 6 (region) and last 4 kept, 370102********1234."""
    return _keep_ends(col, "id_number")


def _keep_ends(col: str | pl.Expr, kind: str) -> pl.Expr:
    head, hidden, min_chars = KEEP_ENDS[kind]
    e = pl.col(col) if isinstance(col, str) else col
    return (
        pl.when(e.is_null())
        .then(e)
        .when(e.str.len_chars() >= min_chars)
        .then(e.str.slice(0, head) + pl.lit(hidden) + e.str.slice(-4, 4))
        .otherwise(pl.lit("****"))
    )


MASKS = {"name": mask_name, "phone": mask_phone, "id_number": mask_id_number}


def mask_sql(kind: str, col: str) -> str:
    """The same masks as DuckDB expressions, for the analyst views."""
    c = f'"{col}"'
    if kind == "name":
        return f"CASE WHEN {c} IS NULL OR length({c}) = 0 THEN {c} ELSE left({c}, 1) || repeat('*', length({c}) - 1) END"
    if kind in KEEP_ENDS:
        head, hidden, min_chars = KEEP_ENDS[kind]
        return f"CASE WHEN {c} IS NULL THEN NULL WHEN length({c}) >= {min_chars} THEN left({c}, {head}) || '{hidden}' || right({c}, 4) ELSE '****' END"
    raise ValueError(f"unknown personal-data kind {kind!r}; expected one of {PII_KINDS}")


def mask_values(record: dict, pii: dict[str, str]) -> dict:
    """A record (e.g. a quarantine payload) with its personal fields masked, for storage beyond the core."""
    out = dict(record)
    frame = pl.DataFrame(
        {k: [None if out.get(k) is None else str(out[k])] for k in pii if k in out},
        schema={k: pl.String for k in pii if k in out},
    )
    if frame.width:
        masked = frame.select([MASKS[kind](k).alias(k) for k, kind in pii.items() if k in out]).row(
            0, named=True
        )
        out.update(masked)
    return out
