"""Keys, from the environment only (NATIONAL_NODE_KEYS, NATIONAL_NODE_READERS), never from files or logs.

Both variables are comma-separated lists of `<id>[:<key id>]=<secret>[@<not after>]`:

    37=<secret>                                   key id "default" of province 37
    37:k2=<new>,37:k1=<old>@2026-12-01T00:00:00Z  rotation: k2 current, k1 accepted until the instant given
    ops=<secret>                                  (READERS) a national reader, who may read every province

A key whose `not after` instant has passed is refused as expired, so a rotation is: add the new key,
let the province switch, give the old one a `@` end of its grace period, drop it later. A secret shorter
than MIN_SECRET_CHARS (an empty one included) stops the node at start: an HMAC over a guessable key
proves nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import dataclass, field

DEFAULT_KEY_ID = "default"
MIN_SECRET_CHARS = 16
_READER_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # not a province code: readers never send batches


@dataclass(frozen=True)
class NodeKey:
    province: str  # the signing identity: a province code, or a reader id
    key_id: str
    secret: str = field(repr=False)
    not_after: dt.datetime | None = None

    def expired(self, now: dt.datetime) -> bool:
        return self.not_after is not None and now > self.not_after


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_keys(spec: str, *, variable: str = "NATIONAL_NODE_KEYS") -> dict[tuple[str, str], NodeKey]:
    """Parse a key list; errors name the entry's position, never its secret."""
    keys: dict[tuple[str, str], NodeKey] = {}
    for i, entry in enumerate((e.strip() for e in spec.split(",")), start=1):
        if not entry:
            continue
        ident, sep, secret = entry.partition("=")
        if not sep or not secret:
            raise ValueError(f"{variable} entry {i}: expected <id>[:<key id>]=<secret>[@<not after>]")
        not_after = None
        if "@" in secret:
            head, _, tail = secret.rpartition("@")
            with contextlib.suppress(ValueError):  # else the '@' belongs to the secret itself
                not_after, secret = _instant(tail), head
        if not secret:
            raise ValueError(f"{variable} entry {i}: the secret is empty")
        province, _, key_id = ident.strip().partition(":")
        keys[(province, key_id or DEFAULT_KEY_ID)] = NodeKey(
            province, key_id or DEFAULT_KEY_ID, secret, not_after
        )
    return keys


def parse_readers(spec: str) -> dict[tuple[str, str], NodeKey]:
    """NATIONAL_NODE_READERS: the national center's own readers (ids like `ops`, never a province code)."""
    readers = parse_keys(spec, variable="NATIONAL_NODE_READERS")
    for reader, _ in readers:
        if not _READER_ID.match(reader):
            raise ValueError(f"NATIONAL_NODE_READERS: reader id {reader!r} must match {_READER_ID.pattern}")
    return readers


@dataclass(frozen=True)
class KeyRing:
    keys: dict[tuple[str, str], NodeKey]  # provinces: send batches, read their own periods
    readers: dict[tuple[str, str], NodeKey] = field(default_factory=dict)  # read every province

    @property
    def provinces(self) -> set[str]:
        return {p for p, _ in self.keys}

    def lookup(self, ident: str, key_id: str) -> tuple[NodeKey | None, bool]:
        """The key of a signer and whether it is a reader; (None, False) for any unknown id or key id."""
        if (ident, key_id) in self.readers:
            return self.readers[(ident, key_id)], True
        return self.keys.get((ident, key_id)), False

    def check_secrets(self, min_chars: int = MIN_SECRET_CHARS) -> None:
        """Refuse to start with an empty or short secret (the message names the key, never the secret)."""
        for (ident, key_id), key in {**self.keys, **self.readers}.items():
            if len(key.secret) < min_chars:
                raise ValueError(
                    f"key {ident}:{key_id} has a secret of {len(key.secret)} characters; "
                    f"at least {min_chars} are required"
                )
