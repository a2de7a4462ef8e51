"""Statements naming pg_catalog, rewritten to run over the session's catalog (warehouse.pgwire.pgcatalog).

It works on tokens, so string literals and quoted names are never touched: relations of pg_catalog point
at the session's tables, and what DuckDB cannot parse or bind becomes plain SQL over them:
`'pg_class'::regclass` (PostgreSQL's own oid), `x::regclass` (the relation's name), `'pg_catalog.array_in'
::regproc`, `'{a,b}'::text[]` (a list), `format_type`/`pg_get_expr`/`obj_description`/... (the session's
macros), `pg_get_keywords()`, `version()`, `session_user`, `SHOW search_path`.
"""

from __future__ import annotations

import re

from warehouse.pgwire.pgcatalog import (
    CATALOG_TABLES,
    MACRO_PREFIX,
    MACROS,
    SCHEMA,
    SETTINGS,
    SYSTEM_RELATIONS,
    quote,
)
from warehouse.pgwire.wire import SERVER_VERSION

_TOKEN = re.compile(
    r"""(?P<str>[Ee]?'(?:[^']|'')*')|(?P<qid>"(?:[^"]|"")*")|(?P<com>--[^\n]*|/\*.*?\*/)|(?P<ws>\s+)"""
    r"""|(?P<id>[A-Za-z_][A-Za-z0-9_$]*)|(?P<cast>::)|(?P<num>\$?\d+(?:\.\d+)?)|(?P<op>.)""",
    re.S,
)
_HINT = re.compile(
    r"pg_|regclass|regproc|regtype|regnamespace|::\s*name\b|version\s*\(|^\s*show\s|session_user|current_user",
    re.I,
)
_SHOW = re.compile(r"^\s*SHOW\s+(\w+)\s*;?\s*$", re.I)
_FROM_WORDS = {"from", "join", ","}
_CLAUSES = {
    "select",
    "from",
    "join",
    "where",
    "on",
    "using",
    "group",
    "order",
    "having",
    "limit",
    "union",
    "set",
}


def _tokens(sql: str) -> list[tuple[str, str]]:
    return [(m.lastgroup, m.group()) for m in _TOKEN.finditer(sql)]


def _name(kind: str, text: str) -> str:
    return text[1:-1].replace('""', '"') if kind == "qid" else text.lower()


def _array_literal(text: str) -> str | None:
    """`'{a,b}'` (PostgreSQL's array text) as a DuckDB list literal; None for anything nested or quoted."""
    body = text[1:-1]
    if not (body.startswith("{") and body.endswith("}")) or any(ch in body[1:-1] for ch in '{}"'):
        return None
    items = [i.strip() for i in body[1:-1].split(",") if i.strip()]
    return "[" + ", ".join("'" + i.replace("'", "''") + "'" for i in items) + "]"


def rewrite(sql: str, user: str) -> str | None:
    """The statement over this session's catalog tables, or None when it names no catalog (most queries)."""
    if not _HINT.search(sql):
        return None
    show = _SHOW.match(sql)
    if show:
        value = {k.lower(): v for k, v in SETTINGS.items()}.get(show.group(1).lower())
        return (
            None if value is None else f"SELECT {quote(value)} AS {show.group(1).lower()}"
        )  # else DuckDB's SHOW
    toks = _tokens(sql)
    out: list[str] = []
    changed = False
    sig: list[int] = []  # indexes in `out` of significant tokens
    clause = [""]  # per parenthesis depth: the clause we are in ("from" after FROM/JOIN)
    i = 0

    def nxt(j: int) -> tuple[int, str, str]:
        while j < len(toks) and toks[j][0] in ("ws", "com"):
            j += 1
        return (j, *toks[j]) if j < len(toks) else (j, "", "")

    while i < len(toks):
        kind, text = toks[i]
        if kind in ("ws", "com"):
            out.append(text)
            i += 1
            continue
        prev = out[sig[-1]].lower() if sig else ""
        if prev == "," and clause[-1] != "from":
            prev = ""  # a select list's comma, not a FROM list's
        if text == "(":
            clause.append("")
        elif text == ")" and len(clause) > 1:
            clause.pop()
        elif kind == "id" and text.lower() in _CLAUSES:
            clause[-1] = "from" if text.lower() in ("from", "join") else text.lower()
        if kind in ("id", "qid"):
            name = _name(kind, text)
            j, k2, t2 = nxt(i + 1)
            if name == "pg_catalog" and t2 == ".":
                j3, k3, t3 = nxt(j + 1)
                target = _name(k3, t3) if k3 in ("id", "qid") else ""
                j4, _, t4 = nxt(j3 + 1)
                if target in CATALOG_TABLES and t4 != "(":
                    out.append(f"{SCHEMA}.{target}")
                    sig.append(len(out) - 1)
                    changed, i = True, j3 + 1
                    continue
                if target in MACROS or target in ("pg_get_keywords", "version"):
                    changed, i = True, j3  # drop the prefix; the name is handled below
                    continue
            elif name in CATALOG_TABLES and prev in _FROM_WORDS and t2 not in (".", "("):
                out.append(f"{SCHEMA}.{name}")
                sig.append(len(out) - 1)
                changed, i = True, i + 1
                continue
            elif t2 == "(" and name in MACROS and prev != ".":
                out.append(MACRO_PREFIX + name)
                sig.append(len(out) - 1)
                changed, i = True, i + 1
                continue
            elif name == "pg_get_keywords" and t2 == "(":
                j3, _, t3 = nxt(j + 1)
                if t3 == ")":
                    out.append(f"{SCHEMA}.pg_keywords")
                    sig.append(len(out) - 1)
                    changed, i = True, j3 + 1
                    continue
            elif name == "version" and t2 == "(" and prev != ".":
                j3, _, t3 = nxt(j + 1)
                if t3 == ")":
                    out.append(f"'PostgreSQL {SERVER_VERSION}'")
                    sig.append(len(out) - 1)
                    changed, i = True, j3 + 1
                    continue
            elif name in ("session_user", "current_user") and t2 != "(" and prev != ".":
                out.append(quote(user))
                sig.append(len(out) - 1)
                changed, i = True, i + 1
                continue
        if kind == "cast":
            j, k2, t2 = nxt(i + 1)
            target = _name(k2, t2) if k2 in ("id", "qid") else ""
            j3, _, t3 = nxt(j + 1)
            is_array = t3 == "["
            if target in (
                "regclass",
                "regproc",
                "regprocedure",
                "regtype",
                "regnamespace",
                "name",
                "text",
                "varchar",
            ):
                operand = sig[-1] if sig else None
                literal = operand is not None and out[operand].startswith("'")
                if target in ("text", "varchar", "name") and literal and is_array:
                    j4, _, t4 = nxt(j3 + 1)
                    as_list = _array_literal(out[operand]) if t4 == "]" else None
                    if as_list is not None:
                        out[operand] = as_list
                        changed, i = True, j4 + 1
                        continue
                elif target == "name":
                    out.append("::VARCHAR")
                    changed, i = True, j + 1
                    continue
                elif target in ("regproc", "regprocedure") and literal:
                    out[operand] = "'" + out[operand][1:-1].removeprefix("pg_catalog.") + "'"
                    changed, i = True, j + 1
                    continue
                elif target in ("regclass", "regtype") and literal:
                    lit = out[operand][1:-1].replace('"', "")
                    if target == "regclass" and lit.removeprefix("pg_catalog.") in SYSTEM_RELATIONS:
                        out[operand] = str(SYSTEM_RELATIONS[lit.removeprefix("pg_catalog.")])
                    else:
                        out[operand] = f"{MACRO_PREFIX}{target}_oid({out[operand]})"
                    changed, i = True, j + 1
                    continue
                elif target in ("regclass", "regtype", "regnamespace") and operand is not None:
                    start = _operand_start(out, sig)
                    expr = "".join(out[start:])
                    del out[start:]
                    sig[:] = [s for s in sig if s < start]
                    out.append(f"{MACRO_PREFIX}{target}_name({expr})")
                    sig.append(len(out) - 1)
                    changed, i = True, j + 1
                    continue
        out.append(text)
        sig.append(len(out) - 1)
        i += 1
    return "".join(out) if changed else None


def _operand_start(out: list[str], sig: list[int]) -> int:
    """Where the operand of a `::` cast starts in `out`: a (qualified) name, a parenthesized group, or
    an earlier cast of either (`$1::oid::regclass`)."""
    k = len(sig) - 1
    while True:
        if out[sig[k]] == ")":
            depth = 0
            while k >= 0:
                depth += out[sig[k]] == ")"
                depth -= out[sig[k]] == "("
                if depth == 0:
                    break
                k -= 1
            if k > 0 and re.fullmatch(r"[A-Za-z_][\w.]*", out[sig[k - 1]]):
                k -= 1  # a function call
        if k >= 2 and out[sig[k - 1]] in (".", "::"):
            k -= 2
            continue
        return sig[k]
