"""Provincial keys, from the environment only (NATIONAL_NODE_KEYS), never from files in the repo or logs.

`NATIONAL_NODE_KEYS` is a comma-separated list of `<province>[:<key id>]=<secret>[@<not after>]`:

    37=<secret>                                   key id "default" of province 37
    37:k2=<new>,37:k1=<old>@2026-12-01T00:00:00Z  rotation: k2 current, k1 accepted until the instant given

A key whose `not after` instant has passed is refused as expired, so a rotation is: add the new key,
let the province switch, give the old one a `@` end of its grace period, drop it later.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field

from national_node.errors import Rejected

DEFAULT_KEY_ID = "default"


@dataclass(frozen=True)
class NodeKey:
    province: str
    key_id: str
    secret: str = field(repr=False)
    not_after: dt.datetime | None = None


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_keys(spec: str) -> dict[tuple[str, str], NodeKey]:
    """Parse NATIONAL_NODE_KEYS; errors name the entry's position, never its secret."""
    keys: dict[tuple[str, str], NodeKey] = {}
    for i, entry in enumerate((e.strip() for e in spec.split(",")), start=1):
        if not entry:
            continue
        ident, sep, secret = entry.partition("=")
        if not sep or not secret:
            raise ValueError(
                f"NATIONAL_NODE_KEYS entry {i}: expected <province>[:<key id>]=<secret>[@<not after>]"
            )
        not_after = None
        if "@" in secret:
            head, _, tail = secret.rpartition("@")
            with contextlib.suppress(ValueError):  # else the '@' belongs to the secret itself
                not_after, secret = _instant(tail), head
        province, _, key_id = ident.strip().partition(":")
        keys[(province, key_id or DEFAULT_KEY_ID)] = NodeKey(
            province, key_id or DEFAULT_KEY_ID, secret, not_after
        )
    return keys


@dataclass(frozen=True)
class KeyRing:
    keys: dict[tuple[str, str], NodeKey]

    @property
    def provinces(self) -> set[str]:
        return {p for p, _ in self.keys}

    def secret(self, province: str, key_id: str, now: dt.datetime) -> str:
        """The secret for a node's key id, if the node is registered and the key is still valid."""
        if province not in self.provinces:
            raise Rejected(403, "unknown_node", f"node {province!r} is not registered at this center")
        key = self.keys.get((province, key_id))
        if key is None:
            raise Rejected(401, "unknown_key", f"node {province} has no key {key_id!r}")
        if key.not_after is not None and now > key.not_after:
            raise Rejected(
                401,
                "key_expired",
                f"key {province}:{key_id} expired at {key.not_after.isoformat()} (rotated out)",
            )
        return key.secret
