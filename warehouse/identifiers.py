"""Industrial-internet identifiers (工业互联网标识解析): the handle format, shared by the build and the resolver.

A handle is `prefix/suffix` (DOMAIN.md, Identifiers): the prefix `88.<secondary node>.<enterprise code>`
(national top-level allocation 88, the province's secondary node, the enterprise node), the suffix names
the object within the enterprise. Ours:

    88.<node: 1-8 digits>.<enterprise: its USCC, GB 32100>/<type code>.<object key>

with type codes ENT (the enterprise itself, suffix `ENT` alone), EQ (equipment), LN (production line) and
DP (registered data product). The object key is the stable business key (equipment id, line id, product
id), percent-encoded outside [A-Za-z0-9_-]. So a handle is a pure function of stable keys, and an issued
one is kept (assets/identifier/issue.py): a rebuild never changes or reissues it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from warehouse.codes import uscc_problem

TOP_LEVEL = "88"
DEFAULT_NODE = "137"  # the province's secondary node code unless LAKEHOUSE_IDENTIFIER_NODE says otherwise
MAX_HANDLE_CHARS = 255
# object type (silver.identifier.object_type) -> suffix type code
TYPE_CODES: dict[str, str] = {"enterprise": "ENT", "equipment": "EQ", "line": "LN", "data_product": "DP"}
OBJECT_TYPES: dict[str, str] = {code: kind for kind, code in TYPE_CODES.items()}
STATUSES = ("active", "revoked")
_NODE = re.compile(r"^[0-9]{1,8}$")
_KEY = re.compile(r"^(?:[A-Za-z0-9_-]|%[0-9A-F]{2}){1,128}$")
# The whole grammar in one expression (the GX rule on silver.identifier uses it).
HANDLE_PATTERN = (
    r"^88\.[0-9]{1,8}\.[0-9A-HJ-NP-RTUWXY]{18}/(?:ENT|(?:EQ|LN|DP)\.(?:[A-Za-z0-9_-]|%[0-9A-F]{2}){1,128})$"
)


class MalformedHandle(ValueError):
    """The text is not a handle; the message is the reason (safe to return to a caller)."""


@dataclass(frozen=True)
class Handle:
    node: str
    enterprise: str  # USCC
    object_type: str  # key of TYPE_CODES
    object_key: str  # decoded business key (the USCC for an enterprise)

    @property
    def text(self) -> str:
        return handle_for(self.node, self.enterprise, self.object_type, self.object_key)


def encode_key(key: str) -> str:
    return quote(key, safe="-_").replace("~", "%7E").replace(".", "%2E")


def handle_for(node: str, uscc: str, object_type: str, object_key: str) -> str:
    """The handle of one object: a pure function of the node code and the object's stable keys."""
    if not _NODE.match(node):
        raise ValueError(f"secondary node code {node!r} must be 1-8 digits")
    code = TYPE_CODES[object_type]
    suffix = code if object_type == "enterprise" else f"{code}.{encode_key(object_key)}"
    return f"{TOP_LEVEL}.{node}.{uscc}/{suffix}"


def parse_handle(text: object) -> Handle:
    """The parts of a handle, or MalformedHandle with the first reason it is not one."""
    if not isinstance(text, str):
        raise MalformedHandle("a handle is a string")
    if not text:
        raise MalformedHandle("empty handle")
    if len(text) > MAX_HANDLE_CHARS:
        raise MalformedHandle(f"longer than {MAX_HANDLE_CHARS} characters")
    if not text.isascii() or not text.isprintable() or any(c.isspace() for c in text):
        raise MalformedHandle("only visible ASCII characters, no spaces")
    prefix, sep, suffix = text.partition("/")
    if not sep:
        raise MalformedHandle("no '/' between prefix and suffix (88.<node>.<enterprise>/<object>)")
    parts = prefix.split(".")
    if parts[0] != TOP_LEVEL:
        raise MalformedHandle(f"prefix must start with the national top-level code {TOP_LEVEL}.")
    if len(parts) != 3:
        raise MalformedHandle("prefix must be 88.<secondary node>.<enterprise code>")
    node, enterprise = parts[1], parts[2]
    if not _NODE.match(node):
        raise MalformedHandle("secondary node code must be 1-8 digits")
    if problem := uscc_problem(enterprise):
        raise MalformedHandle(f"enterprise code is not a valid unified social credit code ({problem})")
    code, dot, key = suffix.partition(".")
    if code not in OBJECT_TYPES:
        raise MalformedHandle(f"object type must be one of {', '.join(OBJECT_TYPES)}")
    object_type = OBJECT_TYPES[code]
    if object_type == "enterprise":
        if dot:
            raise MalformedHandle("an enterprise handle ends in /ENT")
        return Handle(node, enterprise, object_type, enterprise)
    if not dot or not key:
        raise MalformedHandle(f"object key missing after {code}.")
    if not _KEY.match(key):
        raise MalformedHandle("object key: 1-128 of A-Z a-z 0-9 _ - or %XX (upper-case hex)")
    try:
        decoded = unquote(key, errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedHandle("object key: percent-encoding is not UTF-8") from exc
    if encode_key(decoded) != key:
        raise MalformedHandle("object key is not in canonical percent-encoding")
    return Handle(node, enterprise, object_type, decoded)
