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


_CALLS = {"pg_get_keywords": f"{SCHEMA}.pg_keywords", "version": f"'PostgreSQL {SERVER_VERSION}'"}
_TEXT_TYPES = ("text", "varchar", "name")


def rewrite(sql: str, user: str) -> str | None:
    """The statement over this session's catalog tables, or None when it names no catalog (most queries)."""
    if not _HINT.search(sql):
        return None
    show = _SHOW.match(sql)
    if show:  # a PostgreSQL setting; anything else is DuckDB's own SHOW (SHOW TABLES, ...)
        value = {k.lower(): v for k, v in SETTINGS.items()}.get(show.group(1).lower())
        return None if value is None else f"SELECT {quote(value)} AS {show.group(1).lower()}"
    return _Rewrite(sql, user).run()


class _Rewrite:
    """One pass over the tokens; `out` is the new text, `sig` the positions of its significant tokens."""

    def __init__(self, sql: str, user: str) -> None:
        self.toks, self.user = _tokens(sql), user
        self.out: list[str] = []
        self.sig: list[int] = []
        self.clause = [""]  # per parenthesis depth: the clause we are in ("from" after FROM/JOIN)
        self.changed = False
        self.prev = ""

    def run(self) -> str | None:
        i = 0
        while i < len(self.toks):
            kind, text = self.toks[i]
            if kind in ("ws", "com"):
                self.out.append(text)
                i += 1
                continue
            self.prev = self._previous(text, kind)
            resume = self._word(i, kind, text) if kind in ("id", "qid") else None
            if resume is None and kind == "cast":
                resume = self._cast(i)
            if resume is None:
                self._emit(text, changed=False)
                resume = i + 1
            i = resume
        return "".join(self.out) if self.changed else None

    def _next(self, j: int) -> tuple[int, str, str]:
        """The next significant token at or after j: (index, kind, text)."""
        while j < len(self.toks) and self.toks[j][0] in ("ws", "com"):
            j += 1
        return (j, *self.toks[j]) if j < len(self.toks) else (j, "", "")

    def _emit(self, text: str, changed: bool = True) -> None:
        self.out.append(text)
        self.sig.append(len(self.out) - 1)
        self.changed |= changed

    def _previous(self, text: str, kind: str) -> str:
        """The previous significant token (a comma only in a FROM list); tracks the clause."""
        prev = self.out[self.sig[-1]].lower() if self.sig else ""
        if prev == "," and self.clause[-1] != "from":
            prev = ""
        if text == "(":
            self.clause.append("")
        elif text == ")" and len(self.clause) > 1:
            self.clause.pop()
        elif kind == "id" and text.lower() in _CLAUSES:
            self.clause[-1] = "from" if text.lower() in ("from", "join") else text.lower()
        return prev

    def _word(self, i: int, kind: str, text: str) -> int | None:
        """A name: a catalog relation, a function we answer, session_user. Returns where to resume."""
        prev = self.prev
        name = _name(kind, text)
        j, _, after = self._next(i + 1)
        if name == "pg_catalog" and after == ".":
            j2, k2, t2 = self._next(j + 1)
            target = _name(k2, t2) if k2 in ("id", "qid") else ""
            if target in CATALOG_TABLES and self._next(j2 + 1)[2] != "(":
                self._emit(f"{SCHEMA}.{target}")
                return j2 + 1
            if target in MACROS or target in _CALLS:
                self.changed = True
                return j2  # the prefix dropped; the name is handled next
            return None
        if prev == ".":
            return None  # a column or a qualified name's second part
        if name in CATALOG_TABLES and prev in _FROM_WORDS and after not in (".", "("):
            self._emit(f"{SCHEMA}.{name}")
            return i + 1
        if after == "(" and name in MACROS:
            self._emit(MACRO_PREFIX + name)
            return i + 1
        if after == "(" and name in _CALLS:
            j2, _, closing = self._next(j + 1)
            if closing == ")":
                self._emit(_CALLS[name])
                return j2 + 1
        if name in ("session_user", "current_user") and after != "(":
            self._emit(quote(self.user))
            return i + 1
        return None

    def _cast(self, i: int) -> int | None:
        """`x::regclass` and kin. Returns where to resume."""
        j, k, t = self._next(i + 1)
        target = _name(k, t) if k in ("id", "qid") else ""
        operand = self.sig[-1] if self.sig else None
        if operand is None:
            return None
        value = self.out[operand]
        literal = value.startswith("'")
        j2, _, bracket = self._next(j + 1)
        if target in _TEXT_TYPES and literal and bracket == "[":  # '{a,b}'::text[]
            j3, _, closing = self._next(j2 + 1)
            as_list = _array_literal(value) if closing == "]" else None
            if as_list is None:
                return None
            self.out[operand], self.changed = as_list, True
            return j3 + 1
        if target == "name":
            self.out.append("::VARCHAR")
            self.changed = True
            return j + 1
        if target in ("regproc", "regprocedure") and literal:
            self.out[operand], self.changed = "'" + value[1:-1].removeprefix("pg_catalog.") + "'", True
            return j + 1
        if target in ("regclass", "regtype") and literal:
            name = value[1:-1].replace('"', "").removeprefix("pg_catalog.")
            system = SYSTEM_RELATIONS.get(name) if target == "regclass" else None
            self.out[operand] = str(system) if system else f"{MACRO_PREFIX}{target}_oid({value})"
            self.changed = True
            return j + 1
        if target in ("regclass", "regtype", "regnamespace"):
            start = _operand_start(self.out, self.sig)
            expr = "".join(self.out[start:])
            del self.out[start:]
            self.sig[:] = [s for s in self.sig if s < start]
            self._emit(f"{MACRO_PREFIX}{target}_name({expr})")
            return j + 1
        return None


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
